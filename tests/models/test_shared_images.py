"""encode_each_image_once: a GRPO batch's repeated images are encoded once, with the same logits and
gradients as encoding every copy."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from medix_r1.models import load_policy  # noqa: E402
from medix_r1.models.shared_images import distinct_images, encode_each_image_once  # noqa: E402


def test_images_with_equal_sums_are_told_apart_by_their_pixels():
    grid = torch.tensor([[1, 2, 2]] * 4)
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])  # same sum and weighted sum as a
    assert float(a.sum()) == float(b.sum())
    assert distinct_images(torch.cat([a, b, a, b]), grid) == ([0, 1], [0, 1, 0, 1])


def test_equal_pixels_on_different_grids_stay_apart():
    block = torch.ones(4, 3)
    grid = torch.tensor([[1, 2, 2], [1, 4, 1]])
    assert distinct_images(torch.cat([block, block]), grid) == ([0, 1], [0, 1])


def _batch(processor, images):
    question = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which modality?"}]}]
    text = processor.apply_chat_template(question, add_generation_prompt=True, tokenize=False)
    return processor(
        text=[text] * len(images), images=[[im] for im in images], return_tensors="pt", padding=True
    )


def _logits_and_grads(model, batch):
    model.zero_grad()
    logits = model(**batch).logits
    logits.float().logsumexp(-1).mean().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


@pytest.fixture(scope="module")
def tiny(cache_dir):
    model, processor = load_policy("tiny-qwen2-vl-samples", cache_dir=cache_dir, device="cpu")
    return model, processor


def test_repeated_images_give_the_same_logits_and_gradients(tiny, image):
    model, processor = tiny
    other = image.rotate(90)
    batch = _batch(processor, [image, other, image, image, other, other])
    plain = copy.deepcopy(model)
    once = copy.deepcopy(model)
    assert encode_each_image_once(once) and encode_each_image_once(once)  # twice: no second wrapper

    calls = []
    visual = once.model.visual
    visual.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    logits_plain, grads_plain = _logits_and_grads(plain, batch)
    logits_once, grads_once = _logits_and_grads(once, batch)

    patches = int(batch["image_grid_thw"][0].prod())
    assert calls == [2 * patches]  # two distinct images encoded, not six
    assert torch.equal(logits_plain, logits_once)
    assert grads_plain.keys() == grads_once.keys()
    assert any("visual" in name for name in grads_once)
    for name, grad in grads_plain.items():
        torch.testing.assert_close(grads_once[name], grad, rtol=1e-4, atol=1e-7, msg=name)


def test_the_patch_follows_deepcopy_and_stays_out_of_the_weights(tiny):
    model, _ = tiny
    patched = copy.deepcopy(model)
    encode_each_image_once(patched)
    clone = copy.deepcopy(patched)
    assert clone.model.get_image_features.__self__ is clone.model
    assert patched.state_dict().keys() == model.state_dict().keys()


def test_a_model_without_a_vision_tower_is_left_alone():
    assert encode_each_image_once(torch.nn.Linear(2, 2)) is False
