#!/usr/bin/env python3
"""PyTorch peer of Reprise's training-step benchmark: the same Llama (transformers' LlamaForCausalLM,
float32, SDPA attention, tied head), batch, sequence length and thread count; one step = forward,
next-token cross-entropy, backward, clip at 1.0, AdamW (betas 0.9/0.95, decay 0.1 on 2-D projections).

Usage: python train_step_peer.py --preset small --vocab 8192 --batch 8 --threads 2 --steps 5
Prints one JSON line: tokens_per_s (fastest step), seconds_per_step, its median, cpu_seconds_per_step (process
CPU time of the step with the least, steadier on a shared machine), peak_rss_mb.
"""
import argparse, json, resource, time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

PRESETS = {"tiny": dict(dim=128, layers=4, heads=4, context=128), "small": dict(dim=256, layers=6, heads=4, context=256)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (slower start)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    p = PRESETS[args.preset]
    ffn = ((8 * p["dim"] + 2) // 3 + 63) // 64 * 64
    cfg = LlamaConfig(vocab_size=args.vocab, hidden_size=p["dim"], intermediate_size=ffn, num_hidden_layers=p["layers"],
                      num_attention_heads=p["heads"], num_key_value_heads=p["heads"], max_position_embeddings=p["context"],
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True, attention_bias=False, mlp_bias=False)
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg).float()
    model.train()
    decay = [q for n, q in model.named_parameters() if q.ndim == 2 and "embed" not in n]
    other = [q for n, q in model.named_parameters() if not (q.ndim == 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    fwd = torch.compile(model) if args.compile else model
    T = p["context"]
    data = torch.randint(0, args.vocab, (args.batch, T + 1))
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def step():
        opt.zero_grad(set_to_none=True)
        logits = fwd(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, args.vocab), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    step()
    times, cpu = [], []
    for _ in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    times.sort()
    tokens = args.batch * T
    print(json.dumps({"peer": f"torch {torch.__version__} LlamaForCausalLM", "preset": args.preset, "batch": args.batch,
                      "seq": T, "threads": args.threads, "params": sum(q.numel() for q in model.parameters()),
                      "seconds_per_step": times[0], "median_seconds_per_step": times[len(times) // 2],
                      "cpu_seconds_per_step": min(cpu),
                      "tokens_per_s": tokens / times[0], "loss": loss,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
