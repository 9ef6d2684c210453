pid {{ env "NOMAD_TASK_DIR" }}/nginx.pid;
error_log {{ env "NOMAD_TASK_DIR" }}/error.log warn;
worker_processes 1;
user root;
events {
  worker_connections 256;
}
http {
  access_log off;
  client_body_temp_path {{ env "NOMAD_TASK_DIR" }}/body;
  proxy_temp_path {{ env "NOMAD_TASK_DIR" }}/proxy;
  fastcgi_temp_path {{ env "NOMAD_TASK_DIR" }}/fastcgi;
  uwsgi_temp_path {{ env "NOMAD_TASK_DIR" }}/uwsgi;
  scgi_temp_path {{ env "NOMAD_TASK_DIR" }}/scgi;

  upstream web {
{{- range service "web" }}
    server {{ .Address }}:{{ .Port }};
{{- else }}
    server 127.0.0.1:65535;
{{- end }}
  }

  upstream stats_api {
{{- range service "stats-api" }}{{ if ne .Port 0 }}
    server {{ .Address }}:{{ .Port }};
{{- end }}{{- else }}
    server 127.0.0.1:65535;
{{- end }}
  }

  server {
    listen {{ env "NOMAD_ADDR_http" }};
    location / {
      proxy_pass http://web;
      proxy_next_upstream error timeout;
    }
    location /api/ {
      proxy_pass http://stats_api/;
      proxy_next_upstream error timeout;
    }
  }
}
