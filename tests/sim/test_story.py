"""The SEV story of ``sevlab demo`` (sim/story.py): what the guest and the hosts see on each
platform, reproducibility with a seed, and the same DRAM and guest results on every backend."""

import pathlib

import pytest

from sevlab.sim import story as story_module
from sevlab.sim.story import IMAGE_SIZE, NOTE, PASSPHRASE, StoryConfig, _image, make_platforms, run_story


@pytest.fixture(scope="module")
def platforms():
    return make_platforms(seed=7)


def story(backend, platforms, **options):
    config = StoryConfig(backend=backend, seed=7, **options)
    return run_story(config, platforms)


@pytest.fixture(scope="module")
def on_model(platforms):
    return story("model", platforms)


def test_the_guest_reads_the_same_on_both_platforms(on_model):
    guest = on_model.guest
    assert guest["A"] == guest["B"]
    assert guest["A"]["image_intact"] and guest["A"]["secret"] == PASSPHRASE.decode()
    assert guest["A"]["note"] == NOTE.decode()
    assert guest["A"]["sector0"].startswith("sector 0: the host's disk")
    assert [step.name for step in on_model.steps] == ["platform", "certificates", "launch", "guest", "dram",
                                                      "attacks", "target", "migrate-out", "teardown",
                                                      "migrate-in", "teardown-b"]


def test_the_attacks_on_the_demo_guest_show_what_they_claim(on_model):
    """Every demonstration's claims held on the demo's own guest, and the migration after them
    still carried the guest intact (the attacks use lines it does not need)."""
    assert on_model.guest["attacks"] == {name: True for name in (
        "read-private", "move-ciphertext", "replay", "wrong-asid", "refusals (debug)", "refusals (ASID reuse)")}
    attacks = next(step for step in on_model.steps if step.name == "attacks")
    assert not any(line.startswith("  FAIL") for line in attacks.lines)
    assert sum(line.startswith("  ok") for line in attacks.lines) == 10


def test_what_the_host_and_dram_see(on_model):
    guest, host, dram = on_model.dumps["private line (the note)"]
    assert guest == NOTE and host != NOTE and dram != NOTE
    guest, host, dram = on_model.dumps["shared line (bounce page)"]
    assert guest == host == dram                 # shared, and the host does not use SME by default
    on_b = on_model.dumps["the note's line in B's DRAM"]
    assert on_b[0] == NOTE and on_b[2] != on_model.dumps["private line (the note)"][2]


def test_private_data_never_reaches_dram_in_plaintext(on_model):
    """The image (loaded in plaintext, then encrypted in place) and the secret are private on
    both platforms; the note is private too, but the guest wrote a copy to disk through the
    shared bounce page, so it is there in plaintext, and only there."""
    image = _image(IMAGE_SIZE)
    for name, pages in on_model.dram.items():
        everything = b"".join(pages.values())
        for line in range(0, IMAGE_SIZE, 64):
            assert image[line:line + 64] not in everything, f"platform {name}, image line {line // 64}"
        assert PASSPHRASE not in everything, f"platform {name}"
        assert sum(NOTE in page for page in pages.values()) == 1, f"platform {name}"


def test_a_seeded_story_is_reproducible(on_model, platforms):
    again = story("model", platforms)
    assert again.dram == on_model.dram and again.guest == on_model.guest


def test_host_sme_encrypts_the_shared_page_in_dram(platforms):
    result = story("model", platforms, host_sme=True)
    guest, host, dram = result.dumps["shared line (bounce page)"]
    assert guest == host != dram
    assert result.guest["A"] == result.guest["B"]


@pytest.mark.parametrize("backend", [
    "amaranth", pytest.param("icarus", marks=pytest.mark.extended),
    pytest.param("verilator", marks=pytest.mark.extended)])
def test_every_backend_gives_the_models_dram_and_guest_results(on_model, platforms, backend):
    result = story(backend, platforms)
    assert result.guest == on_model.guest
    assert result.dram.keys() == on_model.dram.keys()
    for name in result.dram:
        differing = [hex(page) for page in on_model.dram[name]
                     if result.dram[name][page] != on_model.dram[name][page]]
        assert not differing, f"platform {name}: pages {differing} differ from the model"
    assert result.dumps == on_model.dumps


@pytest.mark.extended
def test_on_a_simulated_board_over_serial_the_story_gives_the_models_results(platforms):
    # Platform A on the iCEBreaker's bridged system behind the serial backend (B on the model);
    # against the whole story on the model of the same memory system. ~3 minutes.
    from sevlab.sim.machine.serial import board_config
    machine = board_config("icebreaker")
    on_board = story("serial", platforms, machine=machine,
                     options={"board": "icebreaker", "port": "sim", "baud": 1_000_000})
    expected = story("model", platforms, machine=machine)
    assert on_board.guest == expected.guest and on_board.guest["A"] == on_board.guest["B"]
    assert on_board.dram == expected.dram
    assert on_board.dumps == expected.dumps


@pytest.mark.parametrize("generation", ["naples", "rome"])
def test_the_packaged_amd_chains_are_the_sev_data_files(generation):
    """sim/data/amd-*/ (what the demo verifies) are byte-identical to ../shared/sev-data/."""
    data = pathlib.Path(__file__).resolve().parents[3] / "shared" / "sev-data" / "virtee-sev"
    packaged = pathlib.Path(story_module.__file__).parent / "data" / f"amd-{generation}"
    for role in ("ark", "ask", "cek", "oca", "pek", "pdh"):
        upstream = data / ("builtin" if role in ("ark", "ask") else "tests") / generation / f"{role}.cert"
        assert upstream.is_file(), f"SEV test data file is missing: {upstream}"
        assert (packaged / f"{role}.cert").read_bytes() == upstream.read_bytes(), role
