package telemesh_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs checks that every package has a package doc comment and
// every exported top-level name a doc comment, as the style guide asks.
func TestPackageDocs(t *testing.T) {
	dirs := map[string][]string{}
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "." || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			dirs[filepath.Dir(p)] = append(dirs[filepath.Dir(p)], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, files := range dirs {
		fset := token.NewFileSet()
		hasDoc := false
		for _, f := range files {
			af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if tags := buildTags(af); tags == "tools" {
				hasDoc = true
				continue
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				hasDoc = true
			}
			for _, decl := range af.Decls {
				checkDeclDoc(t, fset, decl)
			}
		}
		if !hasDoc {
			t.Errorf("package in %s has no package doc comment", dir)
		}
	}
}

func buildTags(f *ast.File) string {
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//go:build ") {
				return strings.TrimPrefix(c.Text, "//go:build ")
			}
		}
	}
	return ""
}

func checkDeclDoc(t *testing.T, fset *token.FileSet, decl ast.Decl) {
	t.Helper()
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() || d.Doc != nil {
			return
		}
		if d.Recv != nil {
			// Methods of unexported types are not part of the API.
			if !exportedRecv(d.Recv) {
				return
			}
			// Methods implementing well-known interfaces need no doc.
			switch d.Name.Name {
			case "Error", "String", "Unwrap", "Is", "ServeHTTP", "MarshalJSON", "UnmarshalJSON", "UnmarshalYAML", "MarshalYAML", "Close", "Run", "Init":
				return
			}
		}
		t.Errorf("%s: exported func %s has no doc comment", fset.Position(d.Pos()), d.Name.Name)
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				if s.Name.IsExported() && d.Doc == nil && s.Doc == nil {
					t.Errorf("%s: exported type %s has no doc comment", fset.Position(s.Pos()), s.Name.Name)
				}
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
						t.Errorf("%s: exported %s has no doc comment", fset.Position(n.Pos()), n.Name)
					}
				}
			}
		}
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	if len(fl.List) == 0 {
		return false
	}
	e := fl.List[0].Type
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	if ix, ok := e.(*ast.IndexExpr); ok {
		e = ix.X
	}
	id, ok := e.(*ast.Ident)
	return ok && id.IsExported()
}

// TestLayering keeps the component boundaries: the hub never imports the
// data nodes, neither imports the router, and consumers and the Grafana
// bridge reach nodes only through the wire protocol. The rules hold for a
// package's transitive imports (go list -deps, as tailscale's deptest), so
// no path through a third package gets around them. It runs under -short
// too: make unit keeps the house rules.
func TestLayering(t *testing.T) {
	const mod = "github.com/telemesh/telemesh/"
	forbidden := []struct{ pkg, banned, why string }{
		{"hub", "datanodes", "the hub learns about nodes over WAMP only"},
		{"hub", "router", "the hub runs against any router"},
		{"datanodes", "hub", "nodes talk to the hub over WAMP only"},
		{"datanodes", "router", "nodes run against any router"},
		{"consumers", "hub", "consumers use the wire protocol"},
		{"consumers", "datanodes", "consumers use the wire protocol"},
		{"consumers", "router", "consumers run against any router"},
		{"grafana-bridge", "router", "the bridge is a consumer"},
		{"grafana-bridge", "hub", "the bridge is a consumer"},
		{"grafana-bridge", "datanodes", "the bridge is a consumer"},
		{"datanodes/driver", "datanodes/store", "drivers know nothing of storage"},
		{"datanodes/store", "datanodes/driver", "storage knows nothing of drivers"},
		{"wampx", "router", "wampx is client-side plumbing"},
		{"protocol", "wampx", "the vocabulary is the ground floor"},
		{"wampx", "cmd", "plumbing never reaches up to the command"},
		{"hub", "cmd", "components never reach up to the command"},
		{"datanodes", "cmd", "components never reach up to the command"},
		{"consumers", "cmd", "components never reach up to the command"},
		{"grafana-bridge", "cmd", "components never reach up to the command"},
		{"router", "cmd", "components never reach up to the command"},
	}
	// nexus's client package imports its router (for ConnectLocal), so
	// this rule can only hold for direct imports.
	direct := []struct{ pkg, banned, why string }{
		{"hub", "github.com/gammazero/nexus/v3/router", "the hub runs against any router"},
		{"datanodes", "github.com/gammazero/nexus/v3/router", "nodes run against any router"},
		{"consumers", "github.com/gammazero/nexus/v3/router", "consumers run against any router"},
	}
	under := func(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }
	for _, p := range goList(t, "./...") {
		pkg := strings.TrimPrefix(p.ImportPath, mod)
		for _, f := range forbidden {
			if !under(pkg, f.pkg) {
				continue
			}
			for _, dep := range p.Deps {
				if under(dep, mod+f.banned) {
					t.Errorf("%s depends on %s: %s", pkg, dep, f.why)
				}
			}
		}
		for _, f := range direct {
			if !under(pkg, f.pkg) {
				continue
			}
			for _, imp := range p.Imports {
				if under(imp, f.banned) {
					t.Errorf("%s imports %s: %s", pkg, imp, f.why)
				}
			}
		}
		if under(pkg, "protocol") {
			for _, dep := range p.Deps {
				if first, _, _ := strings.Cut(dep, "/"); strings.Contains(first, ".") && !under(dep, mod+"protocol") {
					t.Errorf("%s depends on %s: the vocabulary imports only the standard library (and itself)", pkg, dep)
				}
			}
		}
	}
}

// listed is what go list says of a package.
type listed struct {
	ImportPath    string
	Imports, Deps []string
}

func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// TestNoInternalInAPI checks that no exported name outside internal/
// mentions a type from an internal/ package, so every public API can be
// used from another module.
func TestNoInternalInAPI(t *testing.T) {
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "internal" || d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && p != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		internal := map[string]string{} // local name -> import path
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if !strings.Contains("/"+path+"/", "/internal/") {
				continue
			}
			name := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			}
			internal[name] = path
		}
		if len(internal) == 0 {
			return nil
		}
		report := func(what string, n ast.Node) {
			ast.Inspect(n, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && internal[id.Name] != "" {
						t.Errorf("%s: exported %s mentions %s.%s from %s", fset.Position(sel.Pos()), what, id.Name, sel.Sel.Name, internal[id.Name])
					}
				}
				return true
			})
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || exportedRecv(d.Recv)) {
					report(d.Name.Name, d.Type)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							report(s.Name.Name, exportedPart(s.Type))
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && s.Type != nil {
								report(n.Name, s.Type)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// exportedPart is a type expression without a struct's or interface's
// unexported members.
func exportedPart(e ast.Expr) ast.Node {
	keep := func(fl *ast.FieldList) *ast.FieldList {
		out := &ast.FieldList{}
		for _, f := range fl.List {
			if len(f.Names) == 0 {
				out.List = append(out.List, f) // embedded: promoted into the API
				continue
			}
			for _, n := range f.Names {
				if n.IsExported() {
					out.List = append(out.List, f)
					break
				}
			}
		}
		return out
	}
	switch t := e.(type) {
	case *ast.StructType:
		return keep(t.Fields)
	case *ast.InterfaceType:
		return keep(t.Methods)
	}
	return e
}

// TestCustomBuild compiles the command's packages with -tags custom, which
// leaves every driver out (datanodes/driver/all), and with one driver back
// in (compiling, not linking, keeps it quick).
func TestCustomBuild(t *testing.T) {
	for _, tags := range []string{"custom", "custom,drivers.sim"} {
		out, err := exec.Command("go", "build", "-tags", tags, "./cmd/telemesh/cli", "./datanodes/driver/all").CombinedOutput()
		if err != nil {
			t.Errorf("go build -tags %s: %v\n%s", tags, err, out)
		}
	}
	deps := map[string]bool{}
	for _, p := range goList(t, "-tags", "custom,drivers.sim", "-deps", "./cmd/telemesh") {
		deps[p.ImportPath] = true
	}
	const drv = "github.com/telemesh/telemesh/datanodes/driver/"
	if !deps[drv+"sim"] || deps[drv+"mqtt"] || deps["github.com/eclipse/paho.mqtt.golang"] {
		t.Errorf("-tags custom,drivers.sim: sim linked %v, mqtt linked %v", deps[drv+"sim"], deps[drv+"mqtt"])
	}
	// A data node's own binary (make node-build): the node command and
	// every driver, without the router, the hub, the bridge, the archiver
	// and what they bring, nor the WAMP codec's generated fast paths and
	// the CLI's man page writer, whose code a node would map for nothing.
	tags := makeVar(t, "NODE_TAGS")
	deps = map[string]bool{}
	for _, p := range goList(t, "-tags", tags, "-deps", "./cmd/telemesh") {
		deps[p.ImportPath] = true
	}
	const mod = "github.com/telemesh/telemesh/"
	for _, want := range []string{mod + "datanodes", drv + "sim", drv + "mqtt", drv + "file", drv + "exec", drv + "wampfeed"} {
		if !deps[want] {
			t.Errorf("-tags %s: %s is not linked", tags, want)
		}
	}
	for _, heavy := range []string{mod + "router", mod + "hub", mod + "grafana-bridge/bridge", mod + "archive", mod + "tls/pki",
		"github.com/jackc/pgx/v5", "github.com/prometheus/client_golang/prometheus",
		"github.com/cpuguy83/go-md2man/v2/md2man", "github.com/russross/blackfriday/v2"} {
		if deps[heavy] {
			t.Errorf("-tags %s links %s", tags, heavy)
		}
	}
	out, err := exec.Command("go", "list", "-tags", tags, "-f", "{{.GoFiles}}", "github.com/ugorji/go/codec").Output()
	if err != nil {
		t.Fatalf("go list the codec: %v", err)
	}
	if strings.Contains(string(out), ".fastpath.mono.generated.go") || strings.Contains(string(out), "base.fastpath.generated.go") {
		t.Errorf("-tags %s builds the codec's generated fast paths: %s", tags, out)
	}
}

// makeVar returns the value of a simple variable assignment (NAME := value)
// in the Makefile, so a test checks the build make really runs.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, name+" :="); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("Makefile sets no %s", name)
	return ""
}

// TestVersionLdflags checks that the release builds stamp the one version
// variable every component reports (the node's meta, telemesh version).
func TestVersionLdflags(t *testing.T) {
	const x = "-X github.com/telemesh/telemesh/internal/version.Version="
	for _, f := range []string{"Makefile", "Dockerfile"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), x) {
			t.Errorf("%s does not set %s", f, x)
		}
	}
	b, err := os.ReadFile(filepath.Join("internal", "version", "version.go"))
	if err != nil || !strings.Contains(string(b), "\nvar Version = ") {
		t.Errorf("internal/version has no Version variable for -X to set: %v", err)
	}
}
