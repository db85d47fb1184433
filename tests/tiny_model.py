"""A tiny, randomly initialised GPT-2 and a tokenizer trained on the HumanEval prompts, built offline.

Its answers are noise, so the tests that use it (``test_hf.py``, ``test_transformers_serve.py``) check
the path, not the scores. Imports torch, transformers and tokenizers when called, not when imported.
"""

from __future__ import annotations

from pathlib import Path

from pytest_humaneval.dataset import Dataset

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CONTEXT = 2048  # tokens the model can see: its position embeddings end here


def build_model(directory: Path, humaneval: Dataset, chat: bool) -> Path:
    """A byte-level BPE tokenizer trained on the prompts, and a 2-layer GPT-2 with random weights."""
    import tokenizers
    import torch
    import transformers

    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([p.prompt + p.canonical_solution for p in humaneval.problems], trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(directory)
    config = transformers.GPT2Config(
        vocab_size=len(fast),
        n_positions=CONTEXT,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=fast.eos_token_id,
        eos_token_id=fast.eos_token_id,
    )
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    return directory
