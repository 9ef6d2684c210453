<!doctype html>
<html>
<head><title>hybrid mesh</title></head>
<body>
<h1>web-server</h1>
<ul>
<li>node: <b id="node">{{ env "node.unique.name" }}</b> ({{ env "attr.cpu.numcores" }} cores)</li>
<li>address: <b id="addr">{{ env "NOMAD_ADDR_http" }}</b></li>
<li>allocation: <b id="alloc">{{ env "NOMAD_ALLOC_ID" }}</b></li>
</ul>
<p><a href="/api/">stats API</a>: the same kind of card from an exec'd process.</p>
</body>
</html>
