"""Task clustering (S3): features of a call, embeddings, the fitted clusters and assignment."""
