#!/usr/bin/env bash
# Installs everything attnsim needs from Debian 12's packages (no PyPI), idempotently.
# Run as root (or with sudo available). Packages already present are not touched, and the package
# lists are refreshed only when something is missing.
set -euo pipefail

PACKAGES=(
  cmake g++ make git                      # build
  libeigen3-dev                           # tensors
  libboost-program-options-dev            # INI and command-line options
  libhdf5-dev hdf5-tools                  # result files
  libgtest-dev libgmock-dev               # tests
  python3 python3-numpy python3-h5py python3-matplotlib python3-pandas  # analysis and plots
  python3-torch                           # independent reference for parity tests and benchmarks
  libopenblas0-openmp                     # a fast BLAS for PyTorch (its Debian build calls libblas.so.3;
                                          # without this it is the netlib reference BLAS, ~3 GFLOP/s)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: run as root (missing: ${missing[*]})" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
