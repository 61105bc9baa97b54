"""Release gates: rules on a stored run (``rules``), run-vs-run comparison on shared samples
(``compare``: paired rows, paired bootstrap tests) and the gate report's renderings (``render``:
console, Markdown, JUnit XML)."""
