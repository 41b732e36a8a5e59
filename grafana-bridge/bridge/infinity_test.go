package bridge

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestInfinityExample: the documented Infinity panel's body, with Grafana's
// ${__from} and ${__to} interpolated as Infinity's backend does (epoch
// milliseconds), gets data from the bridge, and the provisioned datasource
// is the one the panel names.
func TestInfinityExample(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "grafana", "examples")
	var panel struct {
		Targets []struct {
			Datasource struct{ UID string } `json:"datasource"`
			URL        string               `json:"url"`
			Options    struct {
				Method string `json:"method"`
				Data   string `json:"data"`
			} `json:"url_options"`
			Root string `json:"root_selector"`
		} `json:"targets"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "infinity-panel.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &panel); err != nil || len(panel.Targets) != 1 {
		t.Fatalf("infinity-panel.json: %v", err)
	}
	var prov struct {
		Datasources []struct {
			UID, Type string
			JSONData  struct {
				AllowedHosts []string `yaml:"allowedHosts"`
			} `yaml:"jsonData"`
		}
	}
	y, err := os.ReadFile(filepath.Join(dir, "infinity.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(y, &prov); err != nil || len(prov.Datasources) != 1 {
		t.Fatalf("infinity.yaml: %v", err)
	}
	tg, ds := panel.Targets[0], prov.Datasources[0]
	if ds.Type != "yesoreyeram-infinity-datasource" || ds.UID != tg.Datasource.UID ||
		len(ds.JSONData.AllowedHosts) != 1 || !strings.HasPrefix(tg.URL, ds.JSONData.AllowedHosts[0]+"/") {
		t.Errorf("datasource %+v, panel %+v", ds, tg)
	}
	if tg.Options.Method != "POST" || !strings.Contains(tg.Options.Data, "${__from}") || !strings.Contains(tg.Options.Data, "${__to}") {
		t.Fatalf("the body must carry the range macros: %q", tg.Options.Data)
	}
	from, to := int64(t0*1000), int64(t0*1000)+3600_000
	body := strings.NewReplacer("${__from}", fmt.Sprint(from), "${__to}", fmt.Sprint(to)).Replace(tg.Options.Data)
	ts := newTestServer(t, Config{}, newFakeSource())
	code, resp := post(t, ts.URL+strings.TrimPrefix(tg.URL, ds.JSONData.AllowedHosts[0]), []byte(body))
	var out []timeserie
	if err := json.Unmarshal(resp, &out); code != 200 || err != nil || len(out) != 1 || len(out[0].Datapoints) == 0 || tg.Root != "$[0].datapoints" {
		t.Fatalf("%d %v %s", code, err, resp)
	}
}
