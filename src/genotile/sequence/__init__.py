"""DNA sequence input: one-hot encoding and reverse complement, FASTA reading, the demo genome."""
