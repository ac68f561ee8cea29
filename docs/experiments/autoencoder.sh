#!/usr/bin/env bash
# The deep-autoencoder experiment of docs/experiments/autoencoder.md: every optimizer tuned on
# its grid (DeepOBS protocol) and rerun on three seeds, then K-FAC and EKFAC with Martens &
# Grosse's automatic learning rate and momentum and Levenberg-Marquardt damping, tuned over λ.
# Writes autoencoder-out/ and autoencoder-mg-out/ (tuning.json, tuning.svg, tuning.png).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p fisherlab-cli
run() {
    ./target/release/fisherlab train --dataset digits-images \
        --model docs/experiments/autoencoder.txt --likelihood gaussian \
        --steps 300 --batch 256 --eval-every 10 --target-loss 60 --tune --seeds 3 --quiet "$@"
}
run --optimizer sgd,adam,diag,kfac,ekfac,hf --figures autoencoder-out
run --optimizer kfac,ekfac --auto-lr --adaptive-damping --tune-lr 1 --figures autoencoder-mg-out
