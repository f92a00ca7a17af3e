"""Data-parallel training from Reprise shards and a schedule with PyTorch DDP and a HuggingFace Llama:

    torchrun --nproc_per_node=N Tools/python/train_ddp.py --shards SHARDS --schedule SCHEDULE \
        [--model-config config.json] [--steps S] [--checkpoint DIR]

Follows the schedule like `reprise train`: the objective (ar: causal, mdlm: bidirectional attention), the
order, masks and batches; each global step's rows are split across the ranks. AdamW (β 0.9/0.95, decay on
2-D projection weights only), linear warmup then cosine decay to min_lr_ratio · lr, gradient clipping; the
mdlm loss is Σ w(t)·CE at the masked positions / (rows · L) with the <|mask|> logit excluded (L is the
batch's length: seq_len, or less for an mdlm schedule's short batches). gloo on CPU, nccl on GPUs (one per
process, LOCAL_RANK). --model-config takes a run's HF config.json (`reprise train` writes one), a run.json,
or a Reprise model config ({"preset": "tiny", ...}); the default is the tiny preset.
With --checkpoint DIR, rank 0 saves DIR/last.pt every --save-every steps and at the end, and a rerun resumes
from it (the schedule's global step is the cursor).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reprise_torch import RepriseIterableDataset, loader  # noqa: E402

PRESETS = {"tiny": dict(dim=128, layers=4, heads=4, context=128), "small": dict(dim=256, layers=6, heads=4, context=256)}


def llama_config(path, vocab_size):
    """A LlamaConfig from an HF config.json, a run.json or a Reprise model config file (or the tiny preset)."""
    d = {"preset": "tiny"}
    if path:
        with open(path) as f:
            d = json.load(f)
    if "hidden_size" in d:  # HF form, as `reprise train` and `reprise export --format hf` write it
        config = LlamaConfig(**{k: v for k, v in d.items() if k not in ("architectures", "torch_dtype")})
    else:
        m = dict(d.get("model", d))  # run.json holds the model under "model"
        m = {**PRESETS[m["preset"]], **m} if "preset" in m else m
        ffn = m.get("ffn_hidden", ((8 * m["dim"] + 2) // 3 + 63) // 64 * 64)
        config = LlamaConfig(vocab_size=m.get("vocab_size", vocab_size), hidden_size=m["dim"], intermediate_size=ffn,
                             num_hidden_layers=m["layers"], num_attention_heads=m["heads"],
                             num_key_value_heads=m["heads"], max_position_embeddings=m["context"],
                             rms_norm_eps=m.get("norm_eps", 1e-5), rope_theta=m.get("rope_theta", 10000.0),
                             tie_word_embeddings=m.get("tied_embeddings", True), hidden_act="silu")
    if config.vocab_size != vocab_size:
        sys.exit(f"{path}: vocab_size {config.vocab_size} differs from the shards' {vocab_size}")
    return config


def attention_kwargs(model, objective, rows, seq_len, device):
    """{} when the model's attention already has the objective's shape, else a 4D all-zero mask."""
    return {"attention_mask": torch.zeros(rows, 1, seq_len, seq_len, device=device)} \
        if objective == "mdlm" and getattr(model, "mask_4d", False) else {}


def check_attention(model, objective, vocab, device):
    """Changing the last token must change position 0's logits exactly when attention is bidirectional."""
    x = torch.randint(0, vocab, (1, 8), device=device)
    y = x.clone()
    y[0, -1] = (y[0, -1] + 1) % vocab
    with torch.no_grad():
        kw = attention_kwargs(model, objective, 1, 8, device)
        changed = not torch.equal(model(input_ids=x, **kw).logits[0, 0], model(input_ids=y, **kw).logits[0, 0])
    return changed == (objective == "mdlm")


def learning_rate(step, total, args):
    warmup = args.warmup if args.warmup >= 0 else max(1, total // 20)
    if step < warmup:
        return args.lr * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - 1 - warmup))
    floor = args.lr * args.min_lr_ratio
    return floor + (args.lr - floor) * 0.5 * (1 + math.cos(math.pi * p))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", required=True)
    ap.add_argument("--schedule", required=True)
    ap.add_argument("--model-config")
    ap.add_argument("--steps", type=int, default=0, help="steps of the run (0: the whole schedule); the LR spans them")
    ap.add_argument("--stop-after", type=int, default=0, help="stop after this global step (0: at --steps)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=-1, help="warmup steps (-1: 5%% of the steps)")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="DataLoader workers per rank")
    ap.add_argument("--mask-id", type=int, help="<|mask|> id (default: from the shards' tokenizer)")
    ap.add_argument("--checkpoint", help="directory for last.pt (saved by rank 0, resumed from when present)")
    ap.add_argument("--save-every", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=10)
    args = ap.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    with open(os.path.join(args.shards, "manifest.json")) as f:
        vocab = json.load(f)["vocab_size"]

    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(llama_config(args.model_config, vocab)).to(device)
    for name, p in model.named_parameters():  # Reprise's init: N(0, 0.02), residual outputs / sqrt(2·layers)
        if p.ndim == 2 and name.endswith(("o_proj.weight", "down_proj.weight")):
            torch.nn.init.normal_(p, std=0.02 / math.sqrt(2 * model.config.num_hidden_layers))
    start, state = 0, None
    ckpt = os.path.join(args.checkpoint, "last.pt") if args.checkpoint else None
    if ckpt and os.path.exists(ckpt):
        state = torch.load(ckpt, map_location=device)
        model.load_state_dict(state["model"])
        start = state["step"]

    probe = RepriseIterableDataset(args.shards, args.schedule, rank=rank, world=world, mask_id=args.mask_id)
    objective, mask_id = probe.objective, probe.mask_id
    if objective not in ("ar", "mdlm"):
        sys.exit(f"{args.schedule}: this example trains ar and mdlm schedules, not {objective}")
    if objective == "mdlm":
        model.config.is_causal = False  # transformers >= 5 then builds bidirectional masks
    if not check_attention(model, objective, vocab, device):
        model.config.is_causal, model.mask_4d = True, True  # older ones: pass an all-zero 4D mask
        assert check_attention(model, objective, vocab, device), f"cannot give the attention the {objective} shape"
    total = min(args.steps, len(probe)) if args.steps else len(probe)
    stop = min(args.stop_after, total) if args.stop_after else total
    data = RepriseIterableDataset(args.shards, args.schedule, start, stop, rank, world, mask_id)

    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and "embed_tokens" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim == 2 and "embed_tokens" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay}, {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    if state:
        opt.load_state_dict(state["optimizer"])
    ddp = DDP(model, device_ids=[device.index] if cuda else None)
    excluded = torch.zeros(model.config.vocab_size, dtype=torch.bool, device=device)
    if objective == "mdlm":
        excluded[mask_id] = True
    if rank == 0:
        print(f"{objective}: steps {start}..<{stop} of {total}, {world} ranks, {sum(p.numel() for p in model.parameters())} "
              f"parameters, attention {'causal' if objective == 'ar' else 'bidirectional'} (checked), device {device}",
              flush=True)

    t0, step, seen = time.time(), start, 0
    for batch in loader(data, num_workers=args.workers, pin_memory=cuda):
        assert batch["step"] == step, f"batch of step {batch['step']} where {step} was expected"
        rows, L = batch["input_ids"].shape  # L: seq_len, less for a short batch (mdlm short_fraction)
        step += 1
        if rows == 0:  # more ranks than rows in a short last batch: every rank skips it
            continue
        x, y, w = (batch[k].to(device, non_blocking=True) for k in ("input_ids", "labels", "loss_weight"))
        lr = learning_rate(step - 1, total, args)
        for g in opt.param_groups:
            g["lr"] = lr
        logits = ddp(input_ids=x, **attention_kwargs(model, objective, rows, L, device)).logits.float()
        logits = logits.masked_fill(excluded, float("-inf"))
        ce = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1), reduction="none")
        loss = (ce * w.view(-1)).sum() / (rows * L)
        seen += rows * L
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients over the ranks: the mean over the whole batch
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        if step % args.log_every == 0 or step == start + 1 or step == stop:
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            if rank == 0:
                print(f"step {step:6d}  loss {mean.item() / world:.4f}  lr {lr:.2e}  grad_norm {norm.item():.3f}  "
                      f"{seen * world / (time.time() - t0):,.0f} tokens/s", flush=True)
        if ckpt and rank == 0 and (step == stop or (args.save_every and step % args.save_every == 0)):
            os.makedirs(args.checkpoint, exist_ok=True)
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
