package output

import (
	"strings"
	"testing"
)

const podList = `{"kind":"List","items":[
 {"metadata":{"name":"web-1","labels":{"app":"web","a.b/c":"x"}},"spec":{"containers":[{"name":"app","image":"r/web:1"},{"name":"side","image":"r/side:2"}]},
  "status":{"phase":"Running","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}],"restarts":3}},
 {"metadata":{"name":"web-2","labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"r/web:2"}]},
  "status":{"phase":"Pending","conditions":[{"type":"Ready","status":"False"}],"restarts":0}}]}`

func TestJSONPath(t *testing.T) {
	for _, tc := range []struct{ tpl, want string }{
		{`{.items[0].metadata.name}`, "web-1"},
		{`{.items[*].metadata.name}`, "web-1 web-2"},
		{`{.items[-1].spec.containers[0].image}`, "r/web:2"},
		{`{.items[0].metadata.labels['a.b/c']}`, "x"},
		{`{.items[0].status.restarts}`, "3"},
		{`{.items[0].metadata.labels}`, `{"a.b/c":"x","app":"web"}`},
		{`{.items[*].status.conditions[?(@.type=="Ready")].status}`, "True False"},
		{`{.items[*].status.conditions[?(@.type!="Ready")].type}`, "PodScheduled"},
		{`{.items[?(@.status.restarts==3)].metadata.name}`, "web-1"},
		{`{range .items[*]}{.metadata.name}{"\t"}{.status.phase}{"\n"}{end}`, "web-1\tRunning\nweb-2\tPending\n"},
		{`{range .items[*]}{range .spec.containers[*]}{.name}={.image};{end}{"\n"}{end}`, "app=r/web:1;side=r/side:2;\napp=r/web:2;\n"},
		{`names: {.items[*].metadata.name}!`, "names: web-1 web-2!"},
		{`{.items[5].metadata.name}{.missing}`, ""},
		{`{$.kind}`, "List"},
	} {
		j, err := ParseJSONPath(tc.tpl)
		if err != nil {
			t.Errorf("%s: %v", tc.tpl, err)
			continue
		}
		var b strings.Builder
		if err := j.Execute(&b, []byte(podList)); err != nil {
			t.Errorf("%s: %v", tc.tpl, err)
		} else if b.String() != tc.want {
			t.Errorf("%s = %q, want %q", tc.tpl, b.String(), tc.want)
		}
	}
}

func TestJSONPathErrors(t *testing.T) {
	for _, tc := range []struct{ tpl, want string }{
		{`{.items[0]`, "unclosed {"},
		{`{.items[0}`, "unclosed ["},
		{`{range .items[*]}{.x}`, "{range} without {end}"},
		{`{end}`, "{end} without {range}"},
		{`{items}`, "paths start with a dot"},
		{`{.items[x]}`, "is not an index"},
		{`{.items[?(@.a>1)]}`, `use @.path=="value"`},
		{`{.a..b}`, "empty field name"},
	} {
		_, err := ParseJSONPath(tc.tpl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.tpl, err, tc.want)
		}
	}
}
