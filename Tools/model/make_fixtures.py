#!/usr/bin/env python3
"""Reference logits, losses and gradients for RepriseModel, computed by PyTorch autograd.

Setup (once):  python3 -m venv VENV && VENV/bin/pip install torch transformers numpy
Usage:         VENV/bin/python Tools/model/make_fixtures.py [--output Tests/RepriseModelTests/Fixtures]

For a fixed tiny Llama (V=13, C=16, 2 layers, 2 heads, F=32) with random weights (norm weights around 1,
so their gradients matter), the script computes in float64, from the float32 weights:

  causal                    next-token cross-entropy, mean over B·(T−1) positions (HF's `labels` loss)
  causal-untied             the same with a separate lm_head
  bidirectional             weighted cross-entropy with the mask id removed from the softmax (a masked
                            diffusion loss: some positions weight 0, targets never the mask id)
  bidirectional-embeddings  the same from noisy input embeddings instead of ids, plus ⟨S, final hidden⟩
                            in the loss; records ∂loss/∂(input embeddings)

Two implementations must agree before anything is written: transformers' LlamaForCausalLM, built from a
config.json in exactly the form Reprise writes (this proves the tensor names, the config keys and the
rotate-half RoPE convention), and a plain-torch Llama written here, whose float64 results are the
fixtures. The agreement is about 3e-7 relative, not 1e-15, because LlamaRMSNorm computes in float32 even
in a float64 model; a wrong name, key or RoPE pairing would differ by order 1. Bidirectional attention in
transformers is obtained with an all-zero additive 4D attention mask, checked against the plain version.
An AdamW reference (torch.optim.AdamW, two parameter groups: decay on 2-D projections only) takes two
steps from the causal gradients in float32.

Output: model.json (config, HF config, cases, tensor index) and model.bin (float32 little-endian; every
tensor is an offset and shape in floats into it).
"""
import argparse, json, math, os, sys, tempfile

import numpy as np
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

V, C, L, H, F, CONTEXT, B, T = 13, 16, 2, 2, 32, 16, 2, 6
D = C // H
THETA, EPS = 10000.0, 1e-5
MASK_ID = V - 1


def hf_config(tied):
    # Exactly the keys and values ModelConfig.huggingFaceConfig() writes (the Swift test compares them).
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": C,
        "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": H,
        "head_dim": D, "max_position_embeddings": CONTEXT, "rms_norm_eps": EPS, "rope_theta": THETA,
        "vocab_size": V, "tie_word_embeddings": tied, "hidden_act": "silu", "torch_dtype": "float32",
        "attention_bias": False, "mlp_bias": False, "attention_dropout": 0.0, "initializer_range": 0.02,
    }


def names(tied):
    out = ["model.embed_tokens.weight"]
    for i in range(L):
        p = f"model.layers.{i}."
        out += [p + "input_layernorm.weight"] + [p + f"self_attn.{x}_proj.weight" for x in "qkvo"]
        out += [p + "post_attention_layernorm.weight"] + [p + f"mlp.{x}_proj.weight" for x in ("gate", "up", "down")]
    out.append("model.norm.weight")
    if not tied:
        out.append("lm_head.weight")
    return out


def shape(name):
    if name.endswith("layernorm.weight") or name == "model.norm.weight":
        return (C,)
    if name in ("model.embed_tokens.weight", "lm_head.weight"):
        return (V, C)
    if "gate_proj" in name or "up_proj" in name:
        return (F, C)
    if "down_proj" in name:
        return (C, F)
    return (C, C)


def make_weights(gen, tied):
    w = {}
    for n in names(tied):
        if n.endswith("norm.weight"):
            w[n] = (1 + 0.2 * torch.randn(shape(n), generator=gen)).float()
        else:
            w[n] = (0.3 * torch.randn(shape(n), generator=gen)).float()
    return w


# ---------------------------------------------------------------- plain torch Llama (float64)

def rope_tables(seq):
    # As HF (and Reprise): float32 inverse frequencies, float32 angles, cos/sin rounded to float32.
    inv = 1.0 / (THETA ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    ang = (torch.arange(seq, dtype=torch.float32)[:, None] * inv[None, :]).double()
    return torch.cos(ang).float().double(), torch.sin(ang).float().double()   # (T, D/2)


def apply_rope(x, cos, sin):                          # x (B, H, T, D): pairs (i, i + D/2)
    a, b = x[..., : D // 2], x[..., D // 2:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def plain_forward(p, x, causal):
    """x (B, T, C) input embeddings → logits (B, T, V), final hidden (B, T, C)."""
    bsz, seq, _ = x.shape
    cos, sin = rope_tables(seq)
    for i in range(L):
        q = f"model.layers.{i}."
        h = rms(x, p[q + "input_layernorm.weight"])
        def heads(t):
            return t.view(bsz, seq, H, D).transpose(1, 2)
        qh = apply_rope(heads(h @ p[q + "self_attn.q_proj.weight"].T), cos, sin)
        kh = apply_rope(heads(h @ p[q + "self_attn.k_proj.weight"].T), cos, sin)
        vh = heads(h @ p[q + "self_attn.v_proj.weight"].T)
        s = qh @ kh.transpose(-1, -2) / math.sqrt(D)
        if causal:
            s = s.masked_fill(torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1), float("-inf"))
        y = (torch.softmax(s, dim=-1) @ vh).transpose(1, 2).reshape(bsz, seq, C)
        x = x + y @ p[q + "self_attn.o_proj.weight"].T
        h = rms(x, p[q + "post_attention_layernorm.weight"])
        g = h @ p[q + "mlp.gate_proj.weight"].T
        u = h @ p[q + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ p[q + "mlp.down_proj.weight"].T
    hidden = rms(x, p["model.norm.weight"])
    head = p.get("lm_head.weight", p["model.embed_tokens.weight"])
    return hidden @ head.T, hidden


def weighted_ce(logits, targets, weights, excluded, scale):
    """scale · Σ w · CE, with the excluded id removed from the softmax (as CrossEntropy.forwardBackward)."""
    z = logits.reshape(-1, V)
    if excluded is not None:
        z = z.masked_fill(torch.arange(V) == excluded, float("-inf"))
    ce = -torch.log_softmax(z, dim=-1).gather(1, targets.reshape(-1, 1)).squeeze(1)
    return scale * (weights.reshape(-1) * ce).sum()


# ---------------------------------------------------------------- transformers

def hf_model(weights, tied, tmp):
    d = os.path.join(tmp, "tied" if tied else "untied")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hf_config(tied), f)
    cfg = LlamaConfig.from_pretrained(d)
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg).double()
    sd = {k: v.double() for k, v in weights.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # With a tied head, lm_head.weight is the embedding and is absent from our names.
    assert set(missing) <= {"lm_head.weight"} and (tied or not missing), (missing, unexpected)
    assert not unexpected, unexpected
    if tied:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "head not tied"
    return model


def hf_grads(model, tied):
    g = dict(model.named_parameters())
    out = {n: g[n].grad.clone() for n in names(tied)}
    return out


def close(a, b, what, tol=1e-5):
    err = (a - b).abs().max().item() / max(b.abs().max().item(), 1e-30)
    assert err < tol, f"{what}: plain torch and transformers differ ({err:.3g})"
    return err


# ---------------------------------------------------------------- fixture writer

class Blob:
    def __init__(self):
        self.parts, self.count = [], 0

    def add(self, t):
        a = np.ascontiguousarray(t.detach().to(torch.float32).numpy().astype("<f4"))
        ref = {"offset": self.count, "shape": list(a.shape)}
        self.parts.append(a.reshape(-1))
        self.count += a.size
        return ref


def run_case(weights, tied, causal, tokens, targets, tw, excluded, scale, tmp, embeds=None, hidden_grad=None):
    """Returns (loss, logits, grads, d_embeds, checks) from the plain implementation after checking it
    against transformers."""
    p = {k: v.double().clone().requires_grad_(True) for k, v in weights.items()}
    x = embeds.double().clone().requires_grad_(True) if embeds is not None else p["model.embed_tokens.weight"][tokens]
    logits, hidden = plain_forward(p, x, causal)
    loss = weighted_ce(logits, targets, tw, excluded, scale)
    if hidden_grad is not None:
        loss = loss + (hidden_grad.double() * hidden).sum()
    loss.backward()
    grads = {n: p[n].grad for n in names(tied)}

    # transformers on the same inputs
    model = hf_model(weights, tied, tmp)
    kwargs = {"inputs_embeds": embeds.double().clone().requires_grad_(True)} if embeds is not None else {"input_ids": tokens}
    if not causal:
        kwargs["attention_mask"] = torch.zeros(B, 1, T, T, dtype=torch.float64)   # additive: nothing masked
    out = model(**kwargs, output_hidden_states=True)
    hl = weighted_ce(out.logits, targets, tw, excluded, scale)
    checks = {"logits": close(out.logits, logits, "logits")}
    if causal and excluded is None and embeds is None:
        # HF's own next-token loss equals ours with shifted targets and weight 1/(B·(T−1)).
        hf_loss = model(input_ids=tokens, labels=tokens).loss
        checks["hf_labels_loss"] = close(hf_loss, loss.detach(), "loss")
    if hidden_grad is None:
        hl.backward()
        hg = hf_grads(model, tied)
        checks["grads"] = max(close(hg[n], grads[n], n) for n in names(tied))
    d_embeds = x.grad if embeds is not None else None
    return loss.item(), logits, grads, d_embeds, checks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "../../Tests/RepriseModelTests/Fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    tied_w = make_weights(gen, True)
    untied_w = dict(tied_w)
    untied_w["lm_head.weight"] = (0.3 * torch.randn((V, C), generator=gen)).float()

    tokens = torch.randint(0, V - 1, (B, T), generator=gen)
    # causal: next-token targets, last position not scored
    ar_targets = torch.zeros(B, T, dtype=torch.int64)
    ar_targets[:, :-1] = tokens[:, 1:]
    ar_weights = torch.ones(B, T, dtype=torch.float64)
    ar_weights[:, -1] = 0
    ar_scale = 1.0 / (B * (T - 1))
    # bidirectional: some positions masked (input = mask id), scored with varied weights; others weight 0
    masked = torch.rand(B, T, generator=gen) < 0.5
    masked[0, 0] = True
    masked[1, 1] = False
    md_tokens = torch.where(masked, torch.full_like(tokens, MASK_ID), tokens)
    md_weights = torch.where(masked, 0.5 + torch.rand(B, T, generator=gen, dtype=torch.float64), torch.zeros(B, T, dtype=torch.float64))
    md_scale = 1.0 / (B * T)
    embeds = (tied_w["model.embed_tokens.weight"][tokens].double() + 0.5 * torch.randn(B, T, C, generator=gen, dtype=torch.float64)).float()
    hidden_grad = torch.randn(B, T, C, generator=gen).float()

    blob = Blob()
    doc = {
        "format": "reprise model fixture 1",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "config": {"vocab_size": V, "dim": C, "layers": L, "heads": H, "ffn_hidden": F, "context": CONTEXT,
                   "rope_theta": THETA, "norm_eps": EPS, "tied_embeddings": True},
        "hf_config": hf_config(True),
        "batch": B, "seq": T,
        "weights": {n: blob.add(t) for n, t in tied_w.items()},
        "lm_head_untied": blob.add(untied_w["lm_head.weight"]),
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        specs = [
            ("causal", tied_w, True, True, tokens, ar_targets, ar_weights, None, ar_scale, None, None),
            ("causal-untied", untied_w, False, True, tokens, ar_targets, ar_weights, None, ar_scale, None, None),
            ("bidirectional", tied_w, True, False, md_tokens, tokens, md_weights, MASK_ID, md_scale, None, None),
            ("bidirectional-embeddings", tied_w, True, False, None, tokens, md_weights, MASK_ID, md_scale, embeds, hidden_grad),
        ]
        for name, w, tied, causal, toks, tgt, tw, ex, scale, emb, hg in specs:
            loss, logits, grads, d_emb, checks = run_case(w, tied, causal, toks, tgt, tw, ex, scale, tmp, emb, hg)
            case = {
                "tied": tied, "causal": causal, "targets": tgt.reshape(-1).tolist(), "weights": tw.reshape(-1).tolist(),
                "excluded": ex, "scale": scale, "loss": loss, "checked_against_transformers": checks,
                "logits": blob.add(logits), "grads": {n: blob.add(g) for n, g in grads.items()},
            }
            if toks is not None:
                case["tokens"] = toks.reshape(-1).tolist()
            if emb is not None:
                case["input_embeddings"] = blob.add(emb)
                case["input_embeddings_grad"] = blob.add(d_emb)
            if hg is not None:
                case["hidden_grad"] = blob.add(hg)
            doc["cases"][name] = case
            print(f"{name}: loss {loss:.6f}, transformers agreement {checks}", file=sys.stderr)

    # AdamW: two steps from the causal gradients, float32, decay only on 2-D projections.
    lr, wd = 1e-2, 0.1
    params = {n: t.clone().requires_grad_(True) for n, t in tied_w.items()}
    decay = [p for n, p in params.items() if "proj" in n]
    no_decay = [p for n, p in params.items() if "proj" not in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    causal_grads = doc["cases"]["causal"]["grads"]
    flat = np.concatenate(blob.parts)
    for _ in range(2):
        for n, p in params.items():
            ref = causal_grads[n]
            p.grad = torch.from_numpy(flat[ref["offset"]: ref["offset"] + int(np.prod(ref["shape"]))].reshape(ref["shape"]).copy())
        opt.step()
    doc["adamw"] = {"lr": lr, "weight_decay": wd, "steps": 2, "betas": [0.9, 0.95], "eps": 1e-8,
                    "params": {n: blob.add(p.detach()) for n, p in params.items()}}

    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "model.bin"), "wb") as f:
        f.write(np.concatenate(blob.parts).astype("<f4").tobytes())
    doc["floats"] = blob.count
    with open(os.path.join(args.output, "model.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {blob.count} floats to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
