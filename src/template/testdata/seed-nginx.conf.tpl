# Rendered by Drover from the service catalog; nginx reloads when it changes.
upstream web_pool {
{{- range service "web-frontend" }}
  server {{ .Address }}:{{ .Port }} max_fails=2 fail_timeout=30s;
{{- else }}
  server 127.0.0.1:9 down;
{{- end }}
}

upstream stats_pool {
{{- range service "stats-api" }}{{ if (ne .Port 0) }}
  server {{ .Address }}:{{ .Port }} max_fails=2 fail_timeout=30s;
{{- end }}{{ else }}
  server 127.0.0.1:9 down;
{{- end }}
}

server {
  listen 8081;
  location / { proxy_pass http://web_pool; }
  location /api/ { proxy_pass http://stats_pool/; }
}
