/**
 * The job files `drover job init` writes: Drover's counterpart of Nomad's example job. Nomad's pulls `redis`
 * from Docker Hub; no registry outside the machine may be reachable here, so the image is a variable (default
 * `busybox:1.36`, one `docker pull` away) and the job runs anywhere with `-var image=<a local image>`.
 */

export const EXAMPLE_JOB_SHORT = `variable "image" {
  type    = string
  default = "busybox:1.36"
}

job "example" {
  group "web" {
    network {
      port "http" {
        to = 8080
      }
    }

    service {
      name     = "example-web"
      port     = "http"
      provider = "nomad"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "httpd" {
      driver = "docker"

      config {
        image   = var.image
        command = "/bin/sh"
        args    = ["-c", "echo hello from \${NOMAD_ALLOC_ID} > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
        ports   = ["http"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;

export const EXAMPLE_JOB = `# This is Drover's example job, written by \`drover job init\`. It runs one small web server in a docker
# container and registers it as a service. Run it on a dev agent with:
#
#   drover agent -dev &
#   drover job run example.nomad.hcl
#
# The image is a variable so the job runs without a registry: pass any local image that has a shell and
# busybox's httpd, e.g. \`drover job run -var image=busybox:latest example.nomad.hcl\`.
variable "image" {
  type        = string
  default     = "busybox:1.36"
  description = "the container image; it must have /bin/sh and httpd (busybox)"
}

# The "job" block is the unit of work you submit; its name must be unique in its namespace.
job "example" {
  # Where the job may run; "*" (every datacenter) is the default.
  # datacenters = ["dc1"]

  # "service" jobs run until stopped; "batch" jobs run to completion; "system" jobs run on every node.
  type = "service"

  # How a new version replaces the running one: one allocation at a time, each healthy for 10s before the
  # next, and back to the last good version if the new one never becomes healthy.
  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    healthy_deadline = "3m"
    auto_revert      = true
  }

  # A "group" is a set of tasks placed together on one node; "count" is how many copies to run.
  group "web" {
    count = 1

    # A dynamic host port, mapped to port 8080 inside the container.
    network {
      port "http" {
        to = 8080
      }
    }

    # Registered in Drover's service catalog (DNS, templates, the gateway), with a TCP health check.
    service {
      name     = "example-web"
      port     = "http"
      provider = "nomad"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    # Restart a failed task twice in 30 minutes, 15s apart, then fail the allocation so it is rescheduled.
    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    # A "task" is one process: here a docker container.
    task "httpd" {
      driver = "docker"

      config {
        image   = var.image
        command = "/bin/sh"
        args    = ["-c", "echo hello from \${NOMAD_ALLOC_ID} > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
        ports   = ["http"]
      }

      # What the scheduler reserves on the node: CPU in MHz, memory in MB.
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;
