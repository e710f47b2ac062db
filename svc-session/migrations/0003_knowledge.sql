-- The knowledge base: documents, chunks with an embedding (pgvector, HNSW,
-- cosine) and a full-text vector (GIN), and the embedding model in use.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS kb_documents (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,              -- file path or URL it was read from
    url TEXT NOT NULL,                        -- canonical URL for citations
    title TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL,               -- of the extracted text
    lang TEXT NOT NULL DEFAULT 'en',
    etag TEXT,
    last_modified TEXT,
    bytes INTEGER NOT NULL DEFAULT 0,
    indexed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS kb_chunks (
    id BIGSERIAL PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,                     -- position in the document
    heading_path TEXT NOT NULL DEFAULT '',    -- "Pricing > Plans"
    anchor TEXT NOT NULL DEFAULT '',          -- "#plans", for page#section links
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,               -- of heading_path + text
    tokens INTEGER NOT NULL DEFAULT 0,
    embedding vector,                         -- dimension fixed by kb_use_embedding_model
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', heading_path), 'A') || to_tsvector('english', text)
    ) STORED
);
CREATE INDEX IF NOT EXISTS kb_chunks_document_idx ON kb_chunks(document_id, ord);
CREATE INDEX IF NOT EXISTS kb_chunks_hash_idx ON kb_chunks(document_id, content_hash);
CREATE INDEX IF NOT EXISTS kb_chunks_tsv_idx ON kb_chunks USING gin (tsv);

-- At most one row: the model every stored embedding came from.
CREATE TABLE IF NOT EXISTS kb_embedding_model (
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    dimensions INTEGER NOT NULL CHECK (dimensions BETWEEN 1 AND 2000),
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Declares the embedding model in use. The first call fixes the column's
-- dimension and builds the HNSW index; a later call with another model or
-- dimension is refused, so embeddings are never silently mixed.
CREATE OR REPLACE FUNCTION kb_use_embedding_model(p_provider TEXT, p_model TEXT, p_dimensions INTEGER)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cur kb_embedding_model%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('kb_embedding_model'));
    SELECT * INTO cur FROM kb_embedding_model;
    IF FOUND THEN
        IF cur.provider <> p_provider OR cur.model <> p_model OR cur.dimensions <> p_dimensions THEN
            RAISE EXCEPTION USING
                ERRCODE = 'P0001',
                MESSAGE = format('embedding model mismatch: the knowledge base was indexed with %s/%s (%s dimensions) but %s/%s (%s dimensions) is configured',
                                 cur.provider, cur.model, cur.dimensions, p_provider, p_model, p_dimensions),
                HINT = 'Re-index from scratch (svc-indexer reset, then index) or configure the original model.';
        END IF;
        RETURN;
    END IF;
    INSERT INTO kb_embedding_model (provider, model, dimensions) VALUES (p_provider, p_model, p_dimensions);
    DELETE FROM kb_chunks WHERE embedding IS NOT NULL;
    EXECUTE format('ALTER TABLE kb_chunks ALTER COLUMN embedding TYPE vector(%s)', p_dimensions);
    EXECUTE 'CREATE INDEX IF NOT EXISTS kb_chunks_embedding_hnsw ON kb_chunks USING hnsw (embedding vector_cosine_ops)';
END;
$$;

-- Forgets the model and every chunk, so the next index run starts afresh.
CREATE OR REPLACE FUNCTION kb_reset_embedding_model()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('kb_embedding_model'));
    DROP INDEX IF EXISTS kb_chunks_embedding_hnsw;
    DELETE FROM kb_chunks;
    DELETE FROM kb_documents;
    DELETE FROM kb_embedding_model;
    ALTER TABLE kb_chunks ALTER COLUMN embedding TYPE vector;
END;
$$;
