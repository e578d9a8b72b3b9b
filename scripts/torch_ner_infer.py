"""Peer timing for inference: the forward pass of the PyTorch peer's NER model, the one
torch_ner_step.py trains, on the same inputs (the last quarter of each row padding), in
eval mode under torch.no_grad(). Same flags and the same JSON line as torch_ner_step.py
(plus p90_ms), so `duet bench ner --infer --peer` runs it as it runs the training peer.
The model and the BLAS probe are imported from torch_ner_step.py, found in $DUET_PEERS or
in ../shared/peers beside the source tree."""
import argparse, json, os, statistics, sys, time, warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get('DUET_PEERS') or os.path.join(HERE, '..', '..', 'shared', 'peers'))
import torch
from torch_ner_step import NER, blas_loaded

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--seq', type=int, default=40)
    ap.add_argument('--steps', type=int, default=200); ap.add_argument('--warmup', type=int, default=20)
    ap.add_argument('--mode', default='eager'); ap.add_argument('--batch', type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    B, T = a.batch, a.seq
    x = torch.randint(1, 20000, (B, T)); x[:, T*3//4:] = 0
    model = NER(); model.eval()
    fwd, t_first = model, None
    with torch.no_grad():
        if a.mode == 'trace':
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                t0 = time.perf_counter(); fwd = torch.jit.trace(model, (x,), check_trace=False); t_first = time.perf_counter() - t0
        for _ in range(a.warmup): fwd(x)
        ts = []
        for _ in range(a.steps):
            t0 = time.perf_counter(); fwd(x); ts.append(time.perf_counter() - t0)
    ts.sort()
    print(json.dumps({'torch': torch.__version__, 'mode': a.mode, 'threads': a.threads, 'batch': B, 'seq': T,
                      'median_ms': round(statistics.median(ts)*1e3, 3), 'p10_ms': round(ts[len(ts)//10]*1e3, 3),
                      'p90_ms': round(ts[len(ts)*9//10]*1e3, 3), 'trace_s': t_first, 'blas': blas_loaded()}))

if __name__ == '__main__':
    main()
