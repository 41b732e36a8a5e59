import {
  AnnotationQuery,
  CoreApp,
  CustomVariableSupport,
  DataQueryRequest,
  DataQueryResponse,
  DataSourceInstanceSettings,
  MetricFindValue,
  ScopedVars,
} from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv } from '@grafana/runtime';
import { Observable, from, map } from 'rxjs';

import { VariableQueryEditor } from './components/VariableQueryEditor';
import { DEFAULT_QUERY, TelemeshOptions, TelemeshQuery, VariableQuery } from './types';

type AdHocFilter = { key: string; operator: string; value: string; values?: string[] };

/**
 * An annotation's query always asks for annotations: the limit transitions
 * of fields with limits (entered or left warning or alarm, as regions) and
 * the value events of the others.
 */
export function annotationQuery(anno: AnnotationQuery<TelemeshQuery>): TelemeshQuery | undefined {
  const target = anno.target;
  if (!target) {
    return undefined;
  }
  return { ...target, refId: target.refId || 'Anno', queryType: 'annotations' };
}

/** The telemesh datasource: queries run in the backend (and so in alerting). */
export class DataSource extends DataSourceWithBackend<TelemeshQuery, TelemeshOptions> {
  readonly defaultAgg: string;

  constructor(instanceSettings: DataSourceInstanceSettings<TelemeshOptions>) {
    super(instanceSettings);
    this.defaultAgg = instanceSettings.jsonData?.defaultAgg || 'mean';
    this.annotations = { prepareQuery: annotationQuery };
    this.variables = new TelemeshVariableSupport(this);
  }

  getDefaultQuery(_: CoreApp): Partial<TelemeshQuery> {
    return DEFAULT_QUERY;
  }

  /**
   * Variables are interpolated here, where alert rules also pass: multi-value
   * and All variables become {a,b} sets, which the backend expands.
   */
  applyTemplateVariables(query: TelemeshQuery, scopedVars: ScopedVars, filters?: AdHocFilter[]): TelemeshQuery {
    const t = getTemplateSrv();
    const r = (s?: string) => (s ? t.replace(s, scopedVars, 'glob') : s);
    return {
      ...query,
      node: r(query.node),
      field: r(query.field),
      fields: query.fields?.map((f) => r(f) as string),
      target: r(query.target),
      filters: filters && filters.length ? filters : query.filters,
    };
  }

  filterQuery(query: TelemeshQuery): boolean {
    if (query.hide) {
      return false;
    }
    return !!query.target || (!!query.node && (!!query.field || (query.fields?.length ?? 0) > 0));
  }

  /** Explore's Live button streams: it sets each query's live flag. */
  query(request: DataQueryRequest<TelemeshQuery>): Observable<DataQueryResponse> {
    if (request.liveStreaming) {
      request = { ...request, targets: request.targets.map((q) => ({ ...q, live: true })) };
    }
    return super.query(request);
  }

  /** Template variables: nodes(), fields(<node>) or a node::field filter. */
  metricFindQuery(query: VariableQuery | string, options?: { scopedVars?: ScopedVars }): Promise<MetricFindValue[]> {
    const q = typeof query === 'string' ? query : query?.query ?? '';
    const text = getTemplateSrv().replace(q, options?.scopedVars, 'glob');
    return this.getResource<string[]>('lookup', { query: text }).then((list) => list.map((s) => ({ text: s, value: s })));
  }

  getTagKeys() {
    return this.getResource('tag-keys');
  }

  getTagValues(options: { key: string }) {
    return this.getResource('tag-values', { key: options.key });
  }
}

/** Variable support with an editor that explains the query syntax. */
export class TelemeshVariableSupport extends CustomVariableSupport<DataSource, VariableQuery> {
  editor = VariableQueryEditor;

  constructor(private readonly ds: DataSource) {
    super();
  }

  query(request: DataQueryRequest<VariableQuery>): Observable<DataQueryResponse> {
    const q = request.targets[0] ?? { refId: 'variable', query: '' };
    return from(this.ds.metricFindQuery(q, { scopedVars: request.scopedVars })).pipe(map((data) => ({ data })));
  }
}
