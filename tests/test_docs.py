"""The docs as a user meets them: README.md is a front page whose example runs, the site builds strictly and every
example in it runs as written, and the package builds into a wheel and an sdist that PyPI would accept."""

import glob
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def python_blocks(text):
    """The code of every ```python block, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


# docs/own-model.md's example runs a longer search: tests/test_run_own.py runs it with a smaller budget.
PAGES = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))
               if not os.path.islink(p) and not p.endswith("own-model.md"))


def run_examples(name, tmp_path):
    """`name`'s Python blocks, as one program, in a fresh process in an empty folder (a user's new script)."""
    code = "\n".join(python_blocks(read(name)))
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"{name}'s examples failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done.stdout


def test_the_readme_is_a_front_page():
    readme = read("README.md")
    assert len(readme.splitlines()) <= 150
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = quickstart.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert [c.rsplit("# ", 1)[1] for c in commands] == ["main job", "tests"]
    first_python = next(i for i, line in enumerate(readme.splitlines()) if line == "```python")
    assert first_python < 40  # an example on the first screen
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert os.path.exists(os.path.join(ROOT, target)), f"README.md links to {target}, which does not exist"


def test_the_readme_example_runs_as_written(tmp_path):
    """On every backend: the front page promises TensorFlow, JAX and PyTorch."""
    out = run_examples("README.md", tmp_path)
    assert "(c) - (b)" in out  # the search's summary
    assert os.listdir(tmp_path / "logs" / "fit" / "train")  # the TensorBoard run of the attach example


@pytest.mark.one_backend  # the examples are Python on Keras: one backend runs them (tf.data needs TensorFlow)
@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(read(p))])
def test_every_example_of_the_docs_runs_as_written(page, tmp_path):
    run_examples(page, tmp_path)


def test_every_guide_is_in_the_site():
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        listed = set(re.findall(r"([\w-]+\.md)", f.read()))
    pages = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))}
    assert pages == listed


@pytest.mark.one_backend  # builds from the sources, imports nothing of the backend
def test_the_site_builds_strictly(tmp_path):
    """A broken link, anchor or docstring reference fails the build (mkdocs.yml: strict)."""
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("kreg.regularizers.L2", "kreg.layers.Dropout", "kreg.callbacks.RegularizationMonitor",
                 "kreg.tuning.RandomSearch", "kreg.run.api.search"):
        assert f'id="{name}"' in api


def test_the_version_is_written_once():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    assert importlib.metadata.version("kreg") == version
    import kreg

    assert kreg.__version__ == version
    assert re.search(r"^## (\S+)", read("CHANGELOG.md"), re.MULTILINE).group(1) == version
    sources = glob.glob(os.path.join(ROOT, "kreg", "**", "*.py"), recursive=True) + [os.path.join(ROOT, "kreg_cli.py")]
    assert not [p for p in sources if version in open(p, encoding="utf-8").read()]


@pytest.mark.one_backend
def test_the_wheel_and_the_sdist_pass_twine_check(tmp_path):
    tree = tmp_path / "tree"
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if os.path.exists(os.path.join(ROOT, name)):
            os.makedirs(tree / os.path.dirname(name), exist_ok=True)
            shutil.copy(os.path.join(ROOT, name), tree / name)
    dist = tmp_path / "dist"
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(tree)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    made = sorted(os.listdir(dist))
    assert [m.endswith(".whl") for m in made] == [True, False]  # kreg-V-py3-none-any.whl, kreg-V.tar.gz
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *[str(dist / m) for m in made]],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    wheel = zipfile.ZipFile(dist / made[0]).namelist()
    for needed in ("kreg_cli.py", "kreg/examples/digits.toml", "kreg/examples/own/diabetes.py", "kreg/run/plan.py"):
        assert needed in wheel
    assert not [n for n in wheel if n.startswith("tests/")]
