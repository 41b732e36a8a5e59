package telemesh_test

import (
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
// bridge reach nodes only through the wire protocol.
func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/telemesh/telemesh/"
	forbidden := []struct{ pkg, banned, why string }{
		{"hub", "datanodes", "the hub learns about nodes over WAMP only"},
		{"hub", "router", "the hub runs against any router"},
		{"hub", "github.com/gammazero/nexus/v3/router", "the hub runs against any router"},
		{"datanodes", "hub", "nodes talk to the hub over WAMP only"},
		{"datanodes", "router", "nodes run against any router"},
		{"datanodes", "github.com/gammazero/nexus/v3/router", "nodes run against any router"},
		{"consumers", "hub", "consumers use the wire protocol"},
		{"consumers", "datanodes", "consumers use the wire protocol"},
		{"consumers", "router", "consumers run against any router"},
		{"grafana-bridge", "router", "the bridge is a consumer"},
		{"grafana-bridge", "hub", "the bridge is a consumer"},
		{"grafana-bridge", "datanodes", "the bridge is a consumer"},
		{"datanodes/driver", "datanodes/store", "drivers know nothing of storage"},
		{"datanodes/store", "datanodes/driver", "storage knows nothing of drivers"},
		{"protocol", "github.com/", "the vocabulary imports only the standard library"},
		{"wampx", "router", "wampx is client-side plumbing"},
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fs := strings.Fields(line)
		pkg := strings.TrimPrefix(fs[0], mod)
		for _, imp := range fs[1:] {
			for _, f := range forbidden {
				if pkg != f.pkg && !strings.HasPrefix(pkg, f.pkg+"/") {
					continue
				}
				banned := f.banned
				if !strings.Contains(banned, ".") {
					banned = mod + banned
				}
				if imp == banned || strings.HasPrefix(imp, banned+"/") {
					if f.pkg == "datanodes" && strings.HasPrefix(imp, mod+"datanodes") {
						continue
					}
					t.Errorf("%s imports %s: %s", pkg, imp, f.why)
				}
			}
		}
	}
}
