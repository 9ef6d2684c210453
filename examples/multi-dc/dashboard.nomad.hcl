# A dashboard in the GCP datacenter that shows the whole region from the catalog, re-rendered as it changes:
# the datacenters (`datacenters`), every node (`nodes`) and the app's instances in france (`service
# "app@france"`). Served by busybox httpd on 127.0.0.1:8090 (`-var port=N` moves it).
variable "port" {
  type    = number
  default = 8090
}

job "dashboard" {
  region      = "europe"
  datacenters = ["europe-west1"]

  group "dashboard" {
    network {
      port "http" {
        static = var.port
      }
    }

    task "dashboard" {
      driver = "raw_exec"

      config {
        command = "/bin/busybox"
        args    = ["httpd", "-f", "-p", "${NOMAD_ADDR_http}", "-h", "${NOMAD_TASK_DIR}/www"]
      }

      template {
        data        = <<EOT
datacenters:{{ range datacenters }} {{ . }}{{ end }}
nodes:
{{- range nodes }}
  {{ .Node }} {{ .Address }} {{ .Datacenter }}
{{- end }}
app@france:
{{- range service "app@france" }}
  {{ .Address }}:{{ .Port }}
{{- else }}
  (no instance)
{{- end }}
EOT
        destination = "local/www/index.html"
        change_mode = "noop"
      }

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
