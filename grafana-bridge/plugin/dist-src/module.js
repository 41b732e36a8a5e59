/* telemesh datasource frontend: a hand-written AMD module (no build step).
 * Grafana provides react, @grafana/data, @grafana/runtime and @grafana/ui. */
define(["react", "@grafana/data", "@grafana/runtime", "@grafana/ui"], function (React, data, runtime, ui) {
  "use strict";
  var h = React.createElement;
  var AGGS = ["mean", "min", "max", "last", "minmax"].map(function (a) { return { label: a, value: a }; });
  var TYPES = [{ label: "Data", value: "" }, { label: "Annotations", value: "annotations" }];
  function opt(s) { return { label: s, value: s }; }

  class DataSource extends runtime.DataSourceWithBackend {
    constructor(settings) {
      super(settings);
      this.annotations = {}; // annotation queries use the query editor
    }
    // Alert rules run without a browser, so the query must be complete
    // here: variables interpolated, ad-hoc filters copied in.
    applyTemplateVariables(query, scopedVars, filters) {
      var t = runtime.getTemplateSrv();
      return Object.assign({}, query, {
        node: t.replace(query.node || "", scopedVars),
        field: t.replace(query.field || "", scopedVars),
        target: query.target ? t.replace(query.target, scopedVars) : undefined,
        filters: filters && filters.length ? filters : query.filters
      });
    }
    filterQuery(query) { return !query.hide && (!!(query.node && query.field) || !!query.target); }
    // Template variables: "nodes()", "fields(<node>)" or a node::field filter.
    metricFindQuery(query) {
      var q = typeof query === "string" ? query : (query && query.query) || "";
      q = runtime.getTemplateSrv().replace(q);
      return this.getResource("lookup", { query: q }).then(function (list) { return list.map(function (s) { return { text: s, value: s }; }); });
    }
    getTagKeys() { return this.getResource("tag-keys"); }
    getTagValues(options) { return this.getResource("tag-values", { key: options.key }); }
  }

  function QueryEditor(props) {
    var ds = props.datasource, query = props.query;
    var ns = React.useState([]), nodes = ns[0], setNodes = ns[1];
    var fs = React.useState([]), fields = fs[0], setFields = fs[1];
    React.useEffect(function () {
      ds.getResource("nodes").then(function (list) { setNodes(list.map(opt)); }, function () { setNodes([]); });
    }, [ds]);
    React.useEffect(function () {
      if (!query.node || query.node.indexOf("$") >= 0) { setFields([]); return; }
      ds.getResource("fields", { node: query.node }).then(function (list) {
        setFields(list.map(function (f) {
          return { label: f.name, value: f.name, description: [f.type, f.units, f.description].filter(Boolean).join(" · ") };
        }));
      }, function () { setFields([]); });
    }, [ds, query.node]);
    function change(patch, run) {
      props.onChange(Object.assign({}, query, patch));
      if (run) { props.onRunQuery(); }
    }
    function field(label, child) { return h(ui.InlineField, { label: label, labelWidth: 12 }, child); }
    return h("div", { className: "gf-form-inline", style: { display: "flex", flexWrap: "wrap", gap: "4px" } },
      field("Node", h(ui.Select, { width: 24, options: nodes, value: query.node, allowCustomValue: true, placeholder: "node or $var",
        onChange: function (v) { change({ node: v.value, field: undefined }, false); } })),
      field("Field", h(ui.Select, { width: 28, options: fields, value: query.field, allowCustomValue: true, placeholder: "field",
        onChange: function (v) { change({ field: v.value }, true); } })),
      field("Aggregation", h(ui.Select, { width: 14, options: AGGS, value: query.agg || "mean",
        onChange: function (v) { change({ agg: v.value }, true); } })),
      field("Live", h(ui.InlineSwitch, { value: !!query.live,
        onChange: function (e) { change({ live: e.currentTarget.checked }, true); } })),
      field("Type", h(ui.RadioButtonGroup, { options: TYPES, value: query.queryType || "",
        onChange: function (v) { change({ queryType: v }, true); } })));
  }

  function ConfigEditor(props) {
    var o = props.options, j = o.jsonData || {}, secure = o.secureJsonFields || {};
    function setJSON(key, value) {
      var jd = Object.assign({}, j); jd[key] = value;
      props.onOptionsChange(Object.assign({}, o, { jsonData: jd }));
    }
    function text(label, key, placeholder, tooltip) {
      return h(ui.InlineField, { label: label, labelWidth: 20, tooltip: tooltip },
        h(ui.Input, { width: 40, value: j[key] || "", placeholder: placeholder,
          onChange: function (e) { setJSON(key, e.currentTarget.value); } }));
    }
    return h("div", null,
      text("Router URL", "url", "ws://127.0.0.1:8080/ws", "ws://, wss://, tcp:// or tcps://"),
      text("Profile", "profile", "telemesh", "telemesh or sisock"),
      text("Realm", "realm", "(profile's)"),
      text("Base URI", "baseUri", "(profile's)"),
      text("Auth ID", "authid", "anonymous when empty"),
      text("Auth method", "authmethod", "wampcra", "anonymous, ticket, wampcra or cryptosign"),
      text("CA file", "caFile", "/etc/grafana/telemesh-ca.crt", "PEM CA bundle for wss:// on the Grafana host"),
      h(ui.InlineField, { label: "Secret", labelWidth: 20 },
        h(ui.SecretInput, { width: 40, isConfigured: !!secure.secret, value: (o.secureJsonData || {}).secret || "",
          onReset: function () {
            props.onOptionsChange(Object.assign({}, o, { secureJsonFields: Object.assign({}, secure, { secret: false }),
              secureJsonData: Object.assign({}, o.secureJsonData, { secret: "" }) }));
          },
          onChange: function (e) {
            props.onOptionsChange(Object.assign({}, o, { secureJsonData: Object.assign({}, o.secureJsonData, { secret: e.currentTarget.value }) }));
          } })),
      h(ui.InlineField, { label: "Node timeout (s)", labelWidth: 20 },
        h(ui.Input, { width: 12, type: "number", value: j.nodeTimeout || "", placeholder: "10",
          onChange: function (e) { setJSON("nodeTimeout", parseFloat(e.currentTarget.value) || undefined); } })));
  }

  var plugin = new data.DataSourcePlugin(DataSource).setConfigEditor(ConfigEditor).setQueryEditor(QueryEditor);
  return { plugin: plugin };
});
