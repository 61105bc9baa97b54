"""Tasks x model -> requests -> results -> scores, written to the store as samples finish.

``plan`` (task specs loaded once, checked against the model and judges), ``orchestrate``
(start or join a run, leases, chunks, resume, aggregation), ``responders`` (one per output
type: the requests an item needs and the sample its results make), ``provenance`` (run ids,
library versions, git revision)."""
