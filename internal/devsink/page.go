package devsink

import (
	"html/template"
	"net/http"
	"time"
)

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.Local().Format(time.DateTime) },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>smartmaint dev: sent notifications</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem; padding: 0 1rem; color: #1b1b1b; }
article { border: 1px solid #ccc; border-radius: 6px; padding: .75rem 1rem; margin: 1rem 0; }
h2 { font-size: 1.05rem; margin: 0 0 .25rem; }
.meta { color: #555; font-size: .9rem; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .5rem; border-radius: 4px; }
</style>
</head>
<body>
<h1>Sent notifications</h1>
<p class="meta">What smartmaint dev's mail sink{{if .SMTP}} (SMTP {{.SMTP}}){{end}} and webhook receiver got, newest first ({{len .Entries}} kept). JSON: <a href="/messages">/messages</a>. <a href="/">Refresh</a></p>
{{range .Entries}}
<article id="m{{.Seq}}">
<h2>{{.Subject}}</h2>
<p class="meta">#{{.Seq}} · {{.Kind}} · {{when .Received}}{{if .Severity}} · {{.Severity}}{{end}}<br>
{{if eq .Kind "email"}}to {{range $i, $a := .To}}{{if $i}}, {{end}}{{$a}}{{end}}{{else}}POST {{.URL}} · signature verified{{end}}</p>
<pre>{{.Text}}</pre>
{{with .Links}}<ul>{{range .}}<li><a href="{{.URL}}">{{.Title}}</a> <span class="meta">{{.URL}}</span></li>{{end}}</ul>{{end}}
</article>
{{else}}
<p>No messages yet. Approve an incident on the operator page, or send a test with POST /api/v1/notification-channels/{id}/test.</p>
{{end}}
</body>
</html>
`))

func (s *Sink) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTemplate.Execute(w, struct {
		SMTP    string
		Entries []Entry
	}{s.smtpAddr, newestFirst(s.Entries())})
}
