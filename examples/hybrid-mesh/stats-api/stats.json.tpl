{
  "node": "{{ env "node.unique.name" }}",
  "cores": {{ env "attr.cpu.numcores" }},
  "address": "{{ env "NOMAD_ADDR_http" }}",
  "alloc": "{{ env "NOMAD_ALLOC_ID" }}"
}
