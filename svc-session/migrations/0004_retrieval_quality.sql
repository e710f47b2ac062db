-- Retrieval quality: the local embedder's trained model, full text per
-- document language with the title and headings weighted above the body,
-- and the word statistics BM25 ranking needs (idf).

-- At most one row: the model the local embedder learned from the knowledge
-- base (lsa.h). A retrain replaces it with version + 1 and re-embeds every
-- chunk in the same transaction, so vectors of two versions never mix.
CREATE TABLE IF NOT EXISTS kb_local_model (
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    model TEXT NOT NULL,                      -- the embedding model id, e.g. lsa-v1
    version BIGINT NOT NULL,                  -- 1, 2, ... one per training
    dimensions INTEGER NOT NULL,
    words INTEGER NOT NULL,
    trained_chunks INTEGER NOT NULL,          -- chunks in the knowledge base when trained
    changed_chunks INTEGER NOT NULL DEFAULT 0, -- chunks embedded or deleted since
    data BYTEA NOT NULL,
    trained_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The text-search configuration of a document language: english, german,
-- and the other Snowball languages Postgres has; 'simple' otherwise.
CREATE OR REPLACE FUNCTION kb_ts_config(p_lang TEXT) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (CASE lower(split_part(split_part(coalesce(p_lang, ''), '-', 1), '_', 1))
        WHEN 'en' THEN 'english' WHEN 'de' THEN 'german' WHEN 'fr' THEN 'french'
        WHEN 'es' THEN 'spanish' WHEN 'it' THEN 'italian' WHEN 'nl' THEN 'dutch'
        WHEN 'pt' THEN 'portuguese' WHEN 'sv' THEN 'swedish' WHEN 'da' THEN 'danish'
        WHEN 'no' THEN 'norwegian' WHEN 'fi' THEN 'finnish' WHEN 'ru' THEN 'russian'
        ELSE 'simple' END)::regconfig
$$;

-- The chunk's text vector in its document's language: title A, headings B,
-- body D. (A generated column cannot read kb_documents, so the chunk keeps
-- its document's title and configuration.)
ALTER TABLE kb_chunks ADD COLUMN IF NOT EXISTS title TEXT NOT NULL DEFAULT '';
ALTER TABLE kb_chunks ADD COLUMN IF NOT EXISTS ts_config regconfig NOT NULL DEFAULT 'english';
DROP INDEX IF EXISTS kb_chunks_tsv_idx;
ALTER TABLE kb_chunks DROP COLUMN IF EXISTS tsv;
ALTER TABLE kb_chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector(ts_config, title), 'A') ||
    setweight(to_tsvector(ts_config, heading_path), 'B') ||
    to_tsvector(ts_config, text)
) STORED;
UPDATE kb_chunks c SET title = d.title, ts_config = kb_ts_config(d.lang)
    FROM kb_documents d WHERE d.id = c.document_id;
CREATE INDEX IF NOT EXISTS kb_chunks_tsv_idx ON kb_chunks USING gin (tsv);

-- Per lexeme, how many chunks contain it (for idf), and how many chunks
-- there are: refreshed by the indexer after every run that changed chunks
-- (kb_refresh_text_stats).
CREATE TABLE IF NOT EXISTS kb_lexemes (
    lexeme TEXT PRIMARY KEY,
    chunks INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kb_text_stats (
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    chunks BIGINT NOT NULL,
    configs regconfig[] NOT NULL DEFAULT '{english}', -- the text-search configurations in use
    refreshed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION kb_refresh_text_stats()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('kb_text_stats'));
    DELETE FROM kb_lexemes;
    INSERT INTO kb_lexemes (lexeme, chunks) SELECT word, ndoc FROM ts_stat('SELECT tsv FROM kb_chunks');
    INSERT INTO kb_text_stats (chunks, configs)
        SELECT count(*), coalesce(array_agg(DISTINCT ts_config), '{english}') FROM kb_chunks
        ON CONFLICT (singleton) DO UPDATE SET chunks = EXCLUDED.chunks, configs = EXCLUDED.configs,
                                              refreshed_at = now();
END;
$$;
SELECT kb_refresh_text_stats();

-- Forgets the model, the trained local model, the statistics and every
-- chunk, so the next index run starts afresh.
CREATE OR REPLACE FUNCTION kb_reset_embedding_model()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('kb_embedding_model'));
    DROP INDEX IF EXISTS kb_chunks_embedding_hnsw;
    DELETE FROM kb_chunks;
    DELETE FROM kb_documents;
    DELETE FROM kb_embedding_model;
    DELETE FROM kb_local_model;
    DELETE FROM kb_lexemes;
    DELETE FROM kb_text_stats;
    ALTER TABLE kb_chunks ALTER COLUMN embedding TYPE vector;
END;
$$;
