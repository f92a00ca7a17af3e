"""`reprise export --format hf` loaded by transformers (REPRISE_BIN builds and trains a tiny run): AutoTokenizer
knows the special tokens and gives Reprise's ids, padding works, and generate() stops at <|endoftext|>."""
import json
import subprocess

import pytest

from conftest import BIN, require, run_pipeline

torch = require("torch")
transformers = require("transformers")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    work = tmp_path_factory.mktemp("hf")
    w = run_pipeline(work, ["08-ruth.txt", "32-jonah.txt"], (
        "  tokenizer:\n    config: {vocab_size: 400}\n"
        "  pack:\n    config: {seq_len: 32, val_fraction: 0.3}\n"
        "  schedules:\n    ar: {objective: ar, epochs: 1, batch_size: 8, seed: 1}\n"
        "  train:\n    ar: {schedule: ar, model: m.json, config: {steps: 3, eval_sequences: 4}}\n"),
        files={"m.json": '{"preset": "tiny", "dim": 32, "layers": 2, "heads": 2, "context": 64}'})
    out = work / "hf"
    subprocess.run([BIN, "export", str(w / "runs" / "ar"), "--format", "hf", "-o", str(out)], check=True, capture_output=True)
    return w, out


def reprise_ids(w, text, tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(text)
    r = subprocess.run([BIN, "tokenizer", "encode", "--tokenizer", str(w / "tokenizer"), str(path)],
                       check=True, capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def test_auto_tokenizer_knows_the_special_tokens_and_gives_our_ids(exported, tmp_path):
    w, out = exported
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    specials = json.loads((w / "tokenizer" / "manifest.json").read_text())["special_tokens"]
    assert tok.eos_token == tok.bos_token == "<|endoftext|>"
    assert tok.pad_token == "<|pad|>" and tok.mask_token == "<|mask|>"
    assert tok.eos_token_id == specials["<|endoftext|>"] and tok.pad_token_id == specials["<|pad|>"]
    assert tok.unk_token is None
    assert tok.model_max_length == 64
    text = "And Ruth said, Intreat me not to leave thee.\n  Whither thou goest, I will go."
    assert tok(text)["input_ids"] == reprise_ids(w, text, tmp_path), "nothing added around the text"
    assert tok.decode(tok(text)["input_ids"]) == text
    batch = tok(["And Ruth said", "Jonah"], padding=True)
    short = batch["input_ids"][1]
    assert len(short) == len(batch["input_ids"][0]) and short[-1] == tok.pad_token_id
    assert batch["attention_mask"][1][-1] == 0


def test_generate_stops_at_end_of_text(exported):
    w, out = exported
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(out))
    gen = transformers.GenerationConfig.from_pretrained(str(out))
    assert gen.eos_token_id == tok.eos_token_id and gen.pad_token_id == tok.pad_token_id

    class EndAfter(transformers.LogitsProcessor):
        """Makes <|endoftext|> the only choice at the third new token."""
        def __init__(self, start):
            self.start = start

        def __call__(self, input_ids, scores):
            if input_ids.shape[1] == self.start + 2:
                scores[:] = -float("inf")
                scores[:, tok.eos_token_id] = 0
            return scores

    prompt = tok("And Ruth said", return_tensors="pt")
    n = prompt["input_ids"].shape[1]
    ids = model.generate(**prompt, do_sample=False, max_new_tokens=20,
                         logits_processor=transformers.LogitsProcessorList([EndAfter(n)]))
    new = ids[0, n:].tolist()
    assert new[-1] == tok.eos_token_id and len(new) == 3, new
    # Without the push it runs to max_new_tokens or its own end of text; never past one.
    free = model.generate(**prompt, do_sample=False, max_new_tokens=8)[0, n:].tolist()
    assert tok.eos_token_id not in free[:-1]
    # A padded batch generates without complaint (pad_token_id is known).
    tok.padding_side = "left"
    batch = tok(["And Ruth said", "Jonah"], padding=True, return_tensors="pt")
    assert model.generate(**batch, do_sample=False, max_new_tokens=4).shape == (2, batch["input_ids"].shape[1] + 4)
