package plugin

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The checks of grafana/plugin-validator that matter for publishing,
// reproduced: the archive layout, the manifest (plugin.json), a semver
// version, the files a catalogue entry needs, the Go build manifest and
// the source map against the sources.

// semver is the version pattern Grafana's catalogue accepts.
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// backends are the executables of the SDK's standard targets plus armv7.
var backends = []string{"gpx_telemesh_linux_amd64", "gpx_telemesh_linux_arm64", "gpx_telemesh_linux_arm",
	"gpx_telemesh_darwin_amd64", "gpx_telemesh_darwin_arm64", "gpx_telemesh_windows_amd64.exe"}

type pluginJSON struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Name        string `json:"name"`
	Backend     bool   `json:"backend"`
	Alerting    bool   `json:"alerting"`
	Annotations bool   `json:"annotations"`
	Streaming   bool   `json:"streaming"`
	Executable  string `json:"executable"`
	Info        struct {
		Version string `json:"version"`
		Updated string `json:"updated"`
		Logos   struct {
			Small string `json:"small"`
			Large string `json:"large"`
		} `json:"logos"`
	} `json:"info"`
	Dependencies struct {
		GrafanaDependency string `json:"grafanaDependency"`
	} `json:"dependencies"`
}

// sourceMap is the part of a source map the checks read.
type sourceMap struct {
	Sources        []string `json:"sources"`
	SourcesContent []string `json:"sourcesContent"`
}

// checkSourceMap compares the sources in a webpack source map with the
// files under src: every module of ours must be there, byte for byte.
func checkSourceMap(t *testing.T, raw []byte, src string) {
	t.Helper()
	var m sourceMap
	if err := json.Unmarshal(raw, &m); err != nil || len(m.Sources) != len(m.SourcesContent) {
		t.Fatalf("module.js.map: %v (%d sources, %d contents)", err, len(m.Sources), len(m.SourcesContent))
	}
	seen := map[string]bool{}
	for i, s := range m.Sources {
		rel, ok := strings.CutPrefix(s, "webpack://"+ID+"/./")
		if !ok || strings.HasPrefix(rel, "node_modules/") {
			continue
		}
		seen[rel] = true
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Errorf("module.js.map names %s, which src lacks: %v", rel, err)
			continue
		}
		if string(b) != m.SourcesContent[i] {
			t.Errorf("module.js.map is stale for src/%s: run make frontend and commit grafana-bridge/plugin/dist", rel)
		}
	}
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(src, p)
		if err == nil && !d.IsDir() && regexp.MustCompile(`\.tsx?$`).MatchString(p) &&
			!strings.Contains(rel, ".test.") && rel != "testing.tsx" && !seen[filepath.ToSlash(rel)] {
			t.Errorf("src/%s is not in module.js.map: run make frontend", rel)
		}
		return nil
	})
	if len(seen) == 0 {
		t.Error("module.js.map holds none of our sources")
	}
}

// TestFrontendBundleFresh: the committed bundle's source map holds exactly
// the current sources, so the bundle is not stale.
func TestFrontendBundleFresh(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("dist", "module.js.map"))
	if err != nil {
		t.Fatal(err)
	}
	checkSourceMap(t, raw, "src")
	js, err := os.ReadFile(filepath.Join("dist", "module.js"))
	if err != nil || !bytes.Contains(js, []byte("sourceMappingURL=module.js.map")) || !bytes.Contains(js, []byte("\ndefine([")) {
		t.Errorf("dist/module.js is not the AMD bundle with its source map: %v", err)
	}
}

// TestManifestSource: plugin.json is complete and its placeholders are the
// ones make plugin fills; package.json's version is semver.
func TestManifestSource(t *testing.T) {
	var p pluginJSON
	readJSON(t, filepath.Join("src", "plugin.json"), &p)
	if p.Info.Version != "%VERSION%" || p.Info.Updated != "%TODAY%" {
		t.Errorf("src/plugin.json version %q updated %q: want the placeholders", p.Info.Version, p.Info.Updated)
	}
	checkPluginJSON(t, p, func(name string) bool {
		_, err := os.Stat(filepath.Join("src", name))
		return err == nil
	})
	var pkg struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	readJSON(t, "package.json", &pkg)
	if pkg.Name != ID || !semver.MatchString(pkg.Version) {
		t.Errorf("package.json name %q version %q", pkg.Name, pkg.Version)
	}
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func checkPluginJSON(t *testing.T, p pluginJSON, exists func(string) bool) {
	t.Helper()
	if p.ID != ID || !regexp.MustCompile(`^[0-9a-z]+-([0-9a-z]+-)?(app|panel|datasource)$`).MatchString(p.ID) ||
		p.Type != "datasource" || p.Name == "" || !p.Backend || !p.Alerting || !p.Annotations || !p.Streaming || p.Executable != "gpx_telemesh" {
		t.Errorf("plugin.json: %+v", p)
	}
	if !regexp.MustCompile(`^>=\d+\.\d+\.\d+`).MatchString(p.Dependencies.GrafanaDependency) {
		t.Errorf("grafanaDependency %q", p.Dependencies.GrafanaDependency)
	}
	for _, logo := range []string{p.Info.Logos.Small, p.Info.Logos.Large} {
		if logo == "" || !exists(logo) {
			t.Errorf("logo %q missing", logo)
		}
	}
}

// TestPackage checks the zip make plugin-zip wrote, named by
// TELEMESH_PLUGIN_ZIP (CI sets it after packaging).
func TestPackage(t *testing.T) {
	name := os.Getenv("TELEMESH_PLUGIN_ZIP")
	if name == "" {
		t.Skip("TELEMESH_PLUGIN_ZIP not set: run make plugin-zip and point it at the zip")
	}
	zr, err := zip.OpenReader(name)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string]*zip.File{}
	roots := map[string]bool{}
	for _, f := range zr.File {
		root, rest, _ := strings.Cut(f.Name, "/")
		roots[root] = true
		if rest != "" && !strings.HasSuffix(rest, "/") {
			files[rest] = f
		}
	}
	if len(roots) != 1 || !roots[ID] {
		t.Fatalf("archive roots %v, want one folder %s", roots, ID)
	}
	read := func(n string) []byte {
		f, ok := files[n]
		if !ok {
			t.Fatalf("%s missing from the archive", n)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, n := range []string{"plugin.json", "module.js", "module.js.map", "README.md", "LICENSE", "CHANGELOG.md", "go_plugin_build_manifest"} {
		if len(read(n)) == 0 {
			t.Errorf("%s is empty", n)
		}
	}
	for _, b := range backends {
		f, ok := files[b]
		if !ok {
			t.Errorf("backend %s missing", b)
			continue
		}
		if f.Mode().Perm()&0o111 == 0 || f.UncompressedSize64 < 1<<20 {
			t.Errorf("backend %s: mode %v, %d bytes", b, f.Mode(), f.UncompressedSize64)
		}
	}
	var p pluginJSON
	if err := json.Unmarshal(read("plugin.json"), &p); err != nil {
		t.Fatal(err)
	}
	checkPluginJSON(t, p, func(n string) bool { _, ok := files[path.Clean(n)]; return ok })
	if !semver.MatchString(p.Info.Version) || !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`).MatchString(p.Info.Updated) {
		t.Errorf("plugin.json version %q updated %q", p.Info.Version, p.Info.Updated)
	}
	checkSourceMap(t, read("module.js.map"), "src")
	checkGoManifest(t, string(read("go_plugin_build_manifest")))
}

// checkGoManifest: the Go build manifest lists every Go file of the
// plugin's source folder (this one), as the SDK's build writes it and the
// validator checks it: sha256:path per line.
func checkGoManifest(t *testing.T, manifest string) {
	t.Helper()
	want := map[string]string{}
	filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return fs.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			want[filepath.ToSlash(p)] = hex.EncodeToString(sum[:])
		}
		return nil
	})
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(manifest), "\n") {
		sum, file, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("manifest line %q", line)
		}
		got[file] = sum
	}
	var problems []string
	for f, sum := range want {
		if got[f] != sum {
			problems = append(problems, f+": not in the manifest or changed")
		}
	}
	for f := range got {
		if _, ok := want[f]; !ok {
			problems = append(problems, f+": in the manifest, not in the source")
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}
