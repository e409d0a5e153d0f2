"""The README's notebook example runs as written."""

import re

from conftest import REPO


def test_notebook_example_runs(tmp_path, nb201_table_path, capsys):
  text = (REPO / "README.md").read_text()
  section = text[text.index("## From a notebook") :]
  code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
  code = code.replace("/tmp/nasjax_notebook", str(tmp_path / "notebook"))
  namespace = {}
  exec(compile(code, "README.md", "exec"), namespace)
  result = namespace["result"]
  assert result.step == 60 and (tmp_path / "notebook" / "genotype.json").exists()
  assert 0 < result.benchmark["cifar10_test"] < 100
  printed = capsys.readouterr().out.strip().splitlines()[-1]
  assert printed.startswith(str(result.genotype))
