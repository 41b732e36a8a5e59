package plugin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"gopkg.in/yaml.v3"

	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/internal/testutil"
)

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func strictYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestProvisioning parses the Grafana provisioning and dashboard files and
// checks that every datasource the dashboard names is provisioned under the
// same uid and type, and that the queries are valid for their datasource.
func TestProvisioning(t *testing.T) {
	root := filepath.Join(testutil.RepoRoot(t), "deploy", "grafana")
	var dsFile struct {
		APIVersion  int  `yaml:"apiVersion"`
		Prune       bool `yaml:"prune"`
		Datasources []struct {
			Name           string            `yaml:"name"`
			Type           string            `yaml:"type"`
			UID            string            `yaml:"uid"`
			Access         string            `yaml:"access"`
			URL            string            `yaml:"url"`
			IsDefault      bool              `yaml:"isDefault"`
			Editable       bool              `yaml:"editable"`
			Version        int               `yaml:"version"`
			JSONData       map[string]any    `yaml:"jsonData"`
			SecureJSONData map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	strictYAML(t, filepath.Join(root, "provisioning", "datasources", "telemesh.yaml"), &dsFile)
	types := map[string]string{}
	for _, ds := range dsFile.Datasources {
		if ds.UID == "" || types[ds.UID] != "" {
			t.Errorf("datasource %q: empty or duplicate uid %q", ds.Name, ds.UID)
		}
		types[ds.UID] = ds.Type
		if ds.Type == ID {
			jd, _ := json.Marshal(ds.JSONData)
			p, err := ParseSettings(backend.DataSourceInstanceSettings{Name: ds.Name, JSONData: jd})
			if err != nil || len(p.Warnings) > 0 {
				t.Errorf("plugin datasource jsonData: %v %v", err, p.Warnings)
			}
		}
	}
	if types["telemesh"] != ID || types["telemesh-json"] != "simpod-json-datasource" {
		t.Fatalf("provisioned datasources %v", types)
	}

	var dbFile struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			OrgID                 int    `yaml:"orgId"`
			Folder                string `yaml:"folder"`
			Type                  string `yaml:"type"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	strictYAML(t, filepath.Join(root, "provisioning", "dashboards", "telemesh.yaml"), &dbFile)
	if len(dbFile.Providers) != 1 || dbFile.Providers[0].Type != "file" || dbFile.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provider %+v", dbFile.Providers)
	}

	b, err := os.ReadFile(filepath.Join(root, "dashboards", "telemesh-sim.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Datasource dsRef  `json:"datasource"`
				Query      string `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string            `json:"title"`
			Datasource dsRef             `json:"datasource"`
			Targets    []json.RawMessage `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	check := func(where string, r dsRef) {
		if r.UID == "" || types[r.UID] != r.Type {
			t.Errorf("%s: datasource %+v is not provisioned (have %v)", where, r, types)
		}
	}
	for _, v := range dash.Templating.List {
		check("variable "+v.Name, v.Datasource)
	}
	fields := map[string]bool{}
	live := false
	for _, p := range dash.Panels {
		check("panel "+p.Title, p.Datasource)
		for _, raw := range p.Targets {
			var ref struct {
				Datasource dsRef `json:"datasource"`
			}
			json.Unmarshal(raw, &ref)
			check("target of "+p.Title, ref.Datasource)
			resolved := strings.ReplaceAll(string(raw), "$node", "sim")
			switch ref.Datasource.Type {
			case ID:
				var m QueryModel
				var generic map[string]json.RawMessage
				json.Unmarshal([]byte(resolved), &generic)
				delete(generic, "refId")
				delete(generic, "datasource")
				g, _ := json.Marshal(generic)
				dec := json.NewDecoder(bytes.NewReader(g))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&m); err != nil {
					t.Errorf("%s: plugin query: %v", p.Title, err)
				}
				specs, err := m.specs()
				if err != nil {
					t.Errorf("%s: %v", p.Title, err)
				}
				for _, spec := range specs {
					_, fs, err := bridge.ParseSpec(spec)
					if err != nil {
						t.Errorf("%s: %v", p.Title, err)
					}
					for _, f := range fs {
						fields[f] = true
					}
				}
				live = live || m.Live
			default:
				var q struct {
					Target string `json:"target"`
				}
				json.Unmarshal([]byte(resolved), &q)
				tg, err := bridge.ParseTarget(q.Target)
				if err != nil {
					t.Errorf("%s: %v", p.Title, err)
				}
				fields[tg.Field] = true
			}
		}
	}
	for _, f := range []string{"temperature", "humidity", "co2"} {
		if !fields[f] {
			t.Errorf("dashboard %s shows no %s", dash.UID, f)
		}
	}
	if !live {
		t.Error("dashboard has no live panel")
	}
}

// TestBundle checks that the committed frontend bundle is valid AMD
// JavaScript using the backend's resources.
func TestBundle(t *testing.T) {
	js, err := os.ReadFile(filepath.Join("dist", "module.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`define([`, `"nodes"`, `"fields"`, `"lookup"`, `liveStreaming`, `setQueryEditor`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("module.js lacks %s", want)
		}
	}
	node := testutil.Need(t, "node")
	testutil.Run(t, 30*time.Second, node, "--check", filepath.Join("dist", "module.js"))
}
