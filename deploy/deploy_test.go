// Tests of the deployment files: no Docker engine runs here, so the compose
// files are loaded with the real compose loader and every command they run
// is parsed by the real telemesh command line.
package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/telemesh/telemesh/archive"
	"github.com/telemesh/telemesh/cmd/telemesh/cli"
	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router"
	"gopkg.in/yaml.v3"

	_ "github.com/telemesh/telemesh/datanodes/driver/all"
)

const repo = ".."

func load(t *testing.T, files ...string) *types.Project {
	t.Helper()
	var cfs []types.ConfigFile
	for _, f := range files {
		cfs = append(cfs, types.ConfigFile{Filename: filepath.Join(repo, f)})
	}
	abs, _ := filepath.Abs(repo)
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  abs,
		ConfigFiles: cfs,
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName("telemesh", true)
		o.Profiles = []string{"archive"}
	})
	if err != nil {
		t.Fatalf("loading %v: %v", files, err)
	}
	return p
}

// telemeshArgs returns the telemesh command line a service runs, or nil for
// services of other images or with another entrypoint.
func telemeshArgs(s types.ServiceConfig) []string {
	if !strings.HasPrefix(s.Image, "telemesh") && !strings.Contains(s.Image, "TELEMESH_IMAGE") {
		return nil
	}
	if len(s.Entrypoint) > 0 {
		return nil
	}
	return s.Command
}

func TestCompose(t *testing.T) {
	for _, files := range [][]string{
		{"docker-compose.yml"},
		{"docker-compose.yml", "docker-compose.tls.yml"},
		{"docker-compose.yml", "deploy/compose/archive.compose.yml"},
	} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			p := load(t, files...)
			want := []string{"secrets", "router", "hub", "node-sim", "node-hwmon", "bridge", "grafana-plugin", "grafana"}
			if strings.Contains(strings.Join(files, " "), "archive") {
				want = append(want, "victoria-metrics", "archive")
			}
			for _, name := range want {
				if _, ok := p.Services[name]; !ok {
					t.Errorf("service %s missing", name)
				}
			}
			for name, s := range p.Services {
				for _, port := range s.Ports {
					if port.HostIP != "127.0.0.1" {
						t.Errorf("%s publishes %s on %q, want 127.0.0.1", name, port.Published, port.HostIP)
					}
				}
				oneShot := s.Restart == "no"
				if !oneShot && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
					t.Errorf("%s has no health check", name)
				}
				if args := telemeshArgs(s); args != nil {
					if err := cli.CheckArgs(args); err != nil {
						t.Errorf("%s command %q: %v", name, args, err)
					}
				}
				if s.HealthCheck != nil && len(s.HealthCheck.Test) > 2 && s.HealthCheck.Test[1] == "telemesh" {
					if err := cli.CheckArgs(s.HealthCheck.Test[2:]); err != nil {
						t.Errorf("%s health check %q: %v", name, s.HealthCheck.Test, err)
					}
				}
				for _, v := range s.Volumes {
					switch v.Type {
					case types.VolumeTypeBind:
						if v.Source == "/sys" {
							continue
						}
						if _, err := os.Stat(v.Source); err != nil {
							t.Errorf("%s mounts %s, which is not in the repository: %v", name, v.Source, err)
						}
					case types.VolumeTypeVolume:
						if _, ok := p.Volumes[v.Source]; !ok {
							t.Errorf("%s uses undeclared volume %s", name, v.Source)
						}
					}
				}
				for dep := range s.DependsOn {
					if _, ok := p.Services[dep]; !ok {
						t.Errorf("%s depends on unknown service %s", name, dep)
					}
				}
			}
			if h := p.Services["hub"]; !slices.Contains(telemeshArgs(h), "--state-file") || !mountsVolumeAt(h, "/var/lib/telemesh") {
				t.Error("hub keeps no state file in a volume: sisock-era nodes would lose their descriptions at a hub restart")
			}
			for _, name := range []string{"node-sim", "node-hwmon"} {
				if !mountsVolumeAt(p.Services[name], "/var/lib/telemesh") {
					t.Errorf("%s keeps its data in no volume", name)
				}
			}
			if a, ok := p.Services["archive"]; ok && !mountsVolumeAt(a, "/var/lib/telemesh") {
				t.Error("archive keeps its cursors in no volume")
			}
			if !mountsVolumeAt(p.Services["grafana"], "/var/lib/grafana") {
				t.Error("grafana keeps its state in no volume")
			}
		})
	}
}

func mountsVolumeAt(s types.ServiceConfig, target string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == target {
			return true
		}
	}
	return false
}

// secretsDir stands in for the compose secrets volume: the configs name
// files under /secrets, which the test creates in a temp dir.
func withSecrets(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, m := range regexp.MustCompile(`/secrets/([a-z-]+)`).FindAllStringSubmatch(string(b), -1) {
		if err := os.WriteFile(filepath.Join(dir, m[1]), []byte("0123456789abcdef\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, filepath.Base(path))
	s := strings.ReplaceAll(string(b), "/secrets/", dir+"/")
	if err := os.WriteFile(out, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestComposeConfigs(t *testing.T) {
	rcfg, err := router.LoadConfig(withSecrets(t, filepath.Join(repo, "deploy/compose/router.yaml")))
	if err != nil {
		t.Fatalf("router.yaml: %v", err)
	}
	// The spelled-out roles must stay the defaults (admin left out).
	var defaults []router.RoleConfig
	for _, r := range router.DefaultRoles(protocol.DefaultNames()) {
		if r.Name != protocol.RoleAdmin {
			defaults = append(defaults, r)
		}
	}
	got, _ := yaml.Marshal(rcfg.Realms[0].Roles)
	want, _ := yaml.Marshal(defaults)
	if string(got) != string(want) {
		t.Errorf("router.yaml roles drifted from router.DefaultRoles:\n got %s\nwant %s", got, want)
	}
	users := map[string]bool{}
	var rc struct {
		Realms []struct {
			Auth struct {
				WAMPCRA struct {
					Users map[string]struct{ Role string } `yaml:"users"`
				} `yaml:"wampcra"`
			} `yaml:"auth"`
		} `yaml:"realms"`
	}
	b, _ := os.ReadFile(filepath.Join(repo, "deploy/compose/router.yaml"))
	if err := yaml.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	for u, v := range rc.Realms[0].Auth.WAMPCRA.Users {
		users[u+"/"+v.Role] = true
	}
	for _, f := range []string{"node-sim.yaml", "node-hwmon.yaml"} {
		cfg, err := datanodes.LoadConfig(withSecrets(t, filepath.Join(repo, "deploy/compose", f)))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		// The datanode role may only register under B.consumer.<authid>.,
		// so each node's authid must be its name.
		if cfg.Router.AuthID != cfg.Name || !users[cfg.Name+"/datanode"] {
			t.Errorf("%s: node %q authenticates as %q; the router needs a datanode user of the same name", f, cfg.Name, cfg.Router.AuthID)
		}
	}
	if _, _, err := archive.LoadConfig(filepath.Join(repo, "deploy/compose/archive.yaml")); err != nil {
		t.Errorf("archive.yaml: %v", err)
	}
	for _, u := range []string{"hub/hub", "bridge/consumer"} {
		if !users[u] {
			t.Errorf("router.yaml has no user %s", u)
		}
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"AS build", "CGO_ENABLED=1", "USER telemesh", "HEALTHCHECK", "ENTRYPOINT [\"telemesh\"]"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(s, "\nFROM ") < 1 || !strings.HasPrefix(strings.SplitN(s, "\nFROM ", 2)[1], "debian:") && !strings.Contains(s, "FROM debian:") {
		t.Error("Dockerfile is not multi-stage with a small runtime image")
	}
	for _, line := range strings.Split(s, "\n") {
		for _, prefix := range []string{"CMD ", "  CMD "} {
			if strings.HasPrefix(line, prefix) && strings.Contains(line, "[") {
				var args []string
				if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "CMD"))), &args); err != nil {
					t.Fatalf("Dockerfile %q: %v", line, err)
				}
				if args[0] == "telemesh" {
					args = args[1:]
				}
				if err := cli.CheckArgs(args); err != nil {
					t.Errorf("Dockerfile %q: %v", line, err)
				}
			}
		}
	}
}

func TestSystemdUnits(t *testing.T) {
	units, _ := filepath.Glob(filepath.Join(repo, "deploy/systemd/*.service"))
	if len(units) == 0 {
		t.Fatal("no systemd units")
	}
	for _, u := range units {
		f, err := os.Open(u)
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]string{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				keys[k] = v
			}
		}
		f.Close()
		for _, k := range []string{"ExecStart", "Restart", "NoNewPrivileges", "ProtectSystem", "WantedBy"} {
			if keys[k] == "" {
				t.Errorf("%s: no %s", u, k)
			}
		}
		args := strings.Fields(keys["ExecStart"])
		if len(args) < 2 || filepath.Base(args[0]) != "telemesh" {
			t.Errorf("%s: ExecStart %q does not run telemesh", u, keys["ExecStart"])
			continue
		}
		for i, a := range args {
			a = strings.ReplaceAll(a, "%i", "reactor1")
			args[i] = strings.ReplaceAll(a, "${STATE_DIRECTORY}", "/var/lib/telemesh/reactor1")
		}
		if err := cli.CheckArgs(args[1:]); err != nil {
			t.Errorf("%s: ExecStart %q: %v", u, args, err)
		}
	}
}

// TestReadmeNodeConfig keeps the node file shown in the README valid.
func TestReadmeNodeConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "```yaml\n# node.yaml")
	if i < 0 {
		t.Fatal("README has no node.yaml example")
	}
	block := s[i+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	// The example names files on a Pi; point them at temp files.
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	block = strings.ReplaceAll(block, "/etc/telemesh/reactor1.secret", secret)
	path := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(path, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := datanodes.LoadConfig(path)
	if err != nil {
		t.Fatalf("README node.yaml: %v", err)
	}
	for _, d := range cfg.Drivers {
		if _, err := d.Build(); err != nil {
			t.Errorf("README node.yaml driver %s: %v", d.Type, err)
		}
	}
}
