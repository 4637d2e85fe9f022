#!/usr/bin/env bash
# Prepares the GPU check (benchmarks/gpu/check.sh) for a borrowed GPU machine that has no network:
# downloads the wheels of the project's dependencies that its image lacks, and copies
# FashionMNIST's idx files, into .gpu-carry/ (git-ignored), then prints the call to make.
# Run it from anywhere, where pip reaches PyPI and this environment has the project installed
# (`pip install -e ".[test]"`): each wheel is the version installed here, the one the tests pass
# with. FashionMNIST comes from Debian's dataset-fashion-mnist (or FASHION_MNIST=<folder of the
# four idx .gz files>).
#
#   bash benchmarks/gpu/prepare.sh
#
# The machine's image ('cuda': Python 3.12, torch 2.11, torchvision 0.26, numpy, pandas, scipy,
# scikit-learn, seaborn, matplotlib, statsmodels, tqdm, pyyaml, tabulate, pillow, jinja2,
# requests, psutil, attrs, wrapt, pytest, pytest-xdist, hypothesis, filelock, setuptools) has the
# rest. CARRY_PYTHON (default 3.12) is the Python version the wheels are for.
set -euo pipefail
cd "$(dirname "$0")/../.."

# What the image lacks: the project's own dependencies (snakemake, imbalanced-learn, mlxtend,
# scikit-posthocs, jsonschema) and theirs. Left out: pulp (16 MB of solver binaries), which
# Snakemake needs only for its ILP scheduler: without it Snakemake uses its greedy one, which
# check.sh asks for.
MISSING=(
    snakemake snakemake-interface-common snakemake-interface-executor-plugins
    snakemake-interface-logger-plugins snakemake-interface-report-plugins
    snakemake-interface-scheduler-plugins snakemake-interface-storage-plugins
    argparse-dataclass throttler conda-inject configargparse connection-pool docutils
    gitpython gitdb smmap humanfriendly immutables nbformat fastjsonschema jupyter-core
    traitlets platformdirs smart-open sqlmodel sqlalchemy greenlet pydantic pydantic-core
    annotated-types typing-inspection tenacity yte dpath
    jsonschema jsonschema-specifications referencing rpds-py
    imbalanced-learn sklearn-compat mlxtend scikit-posthocs
    # the image has it, perhaps newer than the <26 that snakemake asks for
    packaging
)
# published as source only: built here into a wheel (pure Python)
SOURCE_ONLY=(connection-pool)
LIMIT_MIB=60
carry=.gpu-carry
python_version="${CARRY_PYTHON:-3.12}"
fashion="${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"

# NAME==VERSION as installed here; a name that is not installed stops here, naming the fix
mapfile -t pins < <(python - "${MISSING[@]}" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

missing = []
for name in sys.argv[1:]:
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        missing.append(name)
if missing:
    sys.exit(f"not installed here: {', '.join(missing)}; run pip install -e '.[test]' first")
EOF
)
binary=() from_source=()
for pin in "${pins[@]}"; do
    if [[ " ${SOURCE_ONLY[*]} " == *" ${pin%%==*} "* ]]; then
        from_source+=("$pin")
    else
        binary+=("$pin")
    fi
done

rm -rf "$carry/wheels" "$carry/fashion-mnist"  # one version of each: two stop the install
mkdir -p "$carry/wheels" "$carry/fashion-mnist"
platforms=()
for platform in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
    manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$platform")
done
echo "prepare: downloading ${#binary[@]} wheels for CPython $python_version, x86_64"
python -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" \
    --implementation cp "${platforms[@]}" \
    -d "$carry/wheels" "${binary[@]}"
echo "prepare: building ${#from_source[@]} pure-Python wheels from source: ${from_source[*]}"
python -m pip wheel -q --no-deps -w "$carry/wheels" "${from_source[@]}"

for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
    t10k-labels-idx1-ubyte; do
    if [[ ! -f "$fashion/$name.gz" ]]; then
        echo "prepare: $fashion/$name.gz is missing: apt-get install dataset-fashion-mnist," \
            "or set FASHION_MNIST to a folder with FashionMNIST's four idx .gz files" >&2
        exit 1
    fi
    cp "$fashion/$name.gz" "$carry/fashion-mnist/"
done

bytes=$(du -sb "$carry" | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
wheels=$(find "$carry/wheels" -name '*.whl' | wc -l)
if (( mib > LIMIT_MIB )); then
    echo "prepare: $carry holds $mib MiB, over the $LIMIT_MIB MiB that may travel with the" \
        "working tree; carry fewer wheels" >&2
    exit 1
fi
cat <<EOF
prepare: $carry holds $mib MiB ($wheels wheels, FashionMNIST's four idx files); limit $LIMIT_MIB MiB

The call of the device tool's run (the check keeps to CHECK_SECONDS, 480 s by default):
  carry:     ["$carry"]
  timeout_s: 560
  command:   bash benchmarks/gpu/check.sh
EOF
