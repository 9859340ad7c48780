"""The import graph of genlab and experiments, read statically from the source.

genlab is the library and experiments its user: no genlab module may import from
experiments, and genlab's modules must not import each other in a cycle. Every
`import` counts, including those inside functions (deferring an import hides a
cycle from Python's loader, not from the design).
"""

import ast
import pathlib
import textwrap

import pytest

from conftest import REPO_ROOT

ROOTS = ("genlab", "experiments")


def find_modules(repo: pathlib.Path, roots=ROOTS) -> dict[str, pathlib.Path]:
  """Dotted module name -> file, for every .py under `roots` (a package is its __init__)."""
  modules = {}
  for root in roots:
    for path in sorted((repo / root).rglob("*.py")):
      parts = path.relative_to(repo).with_suffix("").parts
      if parts[-1] == "__init__":
        parts = parts[:-1]
      modules[".".join(parts)] = path
  return modules


def _imported_names(tree: ast.AST, module: str, is_package: bool):
  """Dotted names a module imports; `from x import y` gives x.y (y may be a module)."""
  for node in ast.walk(tree):  # every level: function-level imports count too
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative to this module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
      yield base
      yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def _resolve(name: str, modules) -> str | None:
  """The module `name` denotes: itself, or for `package.attr` the longest known prefix."""
  parts = name.split(".")
  for end in range(len(parts), 0, -1):
    if ".".join(parts[:end]) in modules:
      return ".".join(parts[:end])
  return None


def import_graph(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
  """module -> the modules among `modules` whose code importing it runs.

  An import of a.b.c runs the packages a.b and a too, so they are edges as well,
  except the importer's own enclosing packages: those are already running.
  """
  graph = {}
  for module, path in modules.items():
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = module.split(".")
    running = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    edges = set()
    for name in _imported_names(tree, module, is_package):
      target = _resolve(name, modules)
      if target is None:
        continue
      target_parts = target.split(".")
      for end in range(1, len(target_parts) + 1):
        dep = ".".join(target_parts[:end])
        if dep in modules and dep not in running:
          edges.add(dep)
    graph[module] = edges
  return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """Cycles (first node repeated last): in each strongly connected component, the
  shortest through each of its modules, each cycle once."""
  index, low, stack, on_stack, components = {}, {}, [], set(), []

  def connect(v):  # Tarjan; the graphs are a few hundred nodes, recursion is fine
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph.get(v, ())):
      if w not in index:
        connect(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = set()
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.add(w)
        if w == v:
          break
      if len(component) > 1 or v in graph.get(v, ()):
        components.append(component)

  for v in sorted(graph):
    if v not in index:
      connect(v)
  cycles = []
  for component in components:
    for start in sorted(component):
      cycle = _cycle_through(start, component, graph)
      # Written from its smallest module, so one cycle found from two starts is one.
      i = cycle.index(min(cycle))
      cycle = cycle[i:-1] + cycle[:i] + [cycle[i]]
      if cycle not in cycles:
        cycles.append(cycle)
  return cycles


def _cycle_through(start: str, component: set[str], graph) -> list[str]:
  """A shortest path start -> ... -> start inside one strongly connected component."""
  parent, frontier = {}, [start]
  while frontier:
    nxt = []
    for v in frontier:
      for w in sorted(graph[v] & component):
        if w == start:
          path = [v]
          while path[-1] != start:
            path.append(parent[path[-1]])
          return path[::-1] + [start]
        if w not in parent:
          parent[w] = v
          nxt.append(w)
    frontier = nxt
  raise AssertionError(f"no cycle through {start}")


def experiments_imports(graph: dict[str, set[str]]) -> list[str]:
  return sorted(f"{m} -> {d}" for m, deps in graph.items() if m.split(".")[0] == "genlab"
                for d in deps if d.split(".")[0] == "experiments")


def genlab_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  sub = {m: {d for d in deps if d.split(".")[0] == "genlab"}
         for m, deps in graph.items() if m.split(".")[0] == "genlab"}
  return find_cycles(sub)


# ------------------------------------------------------------------ the real tree


@pytest.fixture(scope="module")
def graph():
  return import_graph(find_modules(REPO_ROOT))


def test_walker_sees_the_tree(graph):
  # Guards the two checks below against passing on an empty or misread graph.
  assert "genlab.train" in graph and "experiments.main" in graph
  assert "genlab.errors" in graph["experiments.cli"]


def test_genlab_does_not_import_experiments(graph):
  bad = experiments_imports(graph)
  assert not bad, "genlab must not import experiments:\n  " + "\n  ".join(bad)


def test_genlab_has_no_import_cycles(graph):
  cycles = genlab_cycles(graph)
  assert not cycles, "import cycles in genlab:\n  " + "\n  ".join(
      " -> ".join(c) for c in cycles)


# ------------------------------------------------------------ the walker itself


def _write(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
  for rel, text in files.items():
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(textwrap.dedent(text))
  return root


_SYNTHETIC = {
    "genlab/__init__.py": "",
    "genlab/a.py": "from genlab import b\n",
    # A function-level import of a name from a package: an edge to its __init__.
    "genlab/b.py": "def f():\n  from genlab.c import helper\n  return helper\n",
    "genlab/c/__init__.py": "from . import d\nhelper = d.x\n",
    "genlab/c/d.py": "import genlab.a\nx = 1\n",
    "genlab/e.py": "def config():\n  from experiments.configs import ae\n  return ae\n",
    "experiments/__init__.py": "",
    "experiments/configs/__init__.py": "",
    "experiments/configs/ae.py": "from genlab import a\n",
}


def test_walker_finds_a_cycle_through_functions_packages_and_relative_imports(tmp_path):
  graph = import_graph(find_modules(_write(tmp_path, _SYNTHETIC)))
  assert graph["genlab.b"] == {"genlab.c"}
  assert graph["genlab.c"] == {"genlab.c.d"}
  assert graph["genlab.c.d"] == {"genlab.a"}  # genlab, its own package, is already running
  assert genlab_cycles(graph) == [["genlab.a", "genlab.b", "genlab.c", "genlab.c.d",
                                   "genlab.a"]]
  assert experiments_imports(graph) == [
      "genlab.e -> experiments", "genlab.e -> experiments.configs",
      "genlab.e -> experiments.configs.ae"]


def test_walker_passes_an_acyclic_package(tmp_path):
  files = dict(_SYNTHETIC, **{"genlab/c/d.py": "x = 1\n", "genlab/e.py": "import numpy\n"})
  graph = import_graph(find_modules(_write(tmp_path, files)))
  assert genlab_cycles(graph) == []
  assert experiments_imports(graph) == []
  assert graph["experiments.configs.ae"] == {"genlab", "genlab.a"}
