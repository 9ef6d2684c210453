# Host volumes the CD example's jobs mount (give this file to the dev agent with -config). The directories must
# exist, the registry's owned by the user its task runs as:
#   install -d -o docker-registry /tmp/drover-cd/registry && mkdir -p /tmp/drover-cd/releases
client {
  # The registry's storage: images survive a restart, a `job stop -purge` and a re-run of the registry job.
  host_volume "cd-registry" {
    path = "/tmp/drover-cd/registry"
  }
  # What the pipeline publishes for the artifact block: the stats API's tarballs, served by the file server job.
  host_volume "cd-releases" {
    path = "/tmp/drover-cd/releases"
  }
}
