"""train.demo_targets: the fine-tuning demo's synthetic track is the documented function of the motifs."""

from __future__ import annotations

import numpy as np
import pyBigWig
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.sequence.demo import write_demo_genome
from genotile.sequence.encoding import reverse_complement
from genotile.train.demo_targets import BASELINE, HALF_WIDTH, MOTIF_HEIGHTS, motif_signal, write_demo_targets


def test_one_motif_is_a_triangle_bump_on_the_baseline():
    sequence = "T" * 100 + "CACGTG" + "T" * 100  # a palindrome: counted once
    signal = motif_signal(sequence)
    centre = 100 + 2.5
    expected = BASELINE + MOTIF_HEIGHTS["CACGTG"] * np.maximum(0, 1 - np.abs(np.arange(206) - centre) / HALF_WIDTH)
    np.testing.assert_allclose(signal, expected.astype(np.float32), rtol=1e-6)
    assert signal.dtype == np.float32 and signal[0] == np.float32(BASELINE)


def test_reverse_complement_motifs_count_and_n_never_matches():
    forward = motif_signal("A" * 60 + "GATAA" + "A" * 60)
    reverse = motif_signal("A" * 60 + reverse_complement("GATAA") + "A" * 60)
    np.testing.assert_array_equal(forward, reverse)
    assert forward.max() > BASELINE
    assert np.all(motif_signal("N" * 50 + "gataa".replace("a", "n") + "N" * 50) == np.float32(BASELINE))


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet="ACGTN", min_size=0, max_size=400))
def test_the_signal_is_its_reverse_complements_mirror(sequence):
    """Every motif set is closed under reverse complement, so the track of the reverse-complemented sequence
    is the track reversed (what strand augmentation in training relies on)."""
    np.testing.assert_allclose(motif_signal(reverse_complement(sequence)), motif_signal(sequence)[::-1], rtol=1e-6)


def test_the_demo_genome_gets_one_bigwig_of_its_contigs(tmp_path):
    fasta = write_demo_genome(tmp_path / "demo.fa", seed=0)
    path = write_demo_targets(fasta, tmp_path / "targets.bw")
    bw = pyBigWig.open(str(path))
    try:
        from genotile.sequence.fasta import Genome

        with Genome(fasta) as genome:
            assert bw.chroms() == genome.contigs
            name, length = next(iter(genome.contigs.items()))
            values = np.asarray(bw.values(name, 0, 2000), dtype=np.float32)
            np.testing.assert_array_equal(values, motif_signal(genome.sequence(name, 0, length))[:2000])
        assert values.max() > 1.0  # the random demo sequence holds motifs
    finally:
        bw.close()
    again = write_demo_targets(fasta, tmp_path / "again.bw")
    assert again.read_bytes() == path.read_bytes()
