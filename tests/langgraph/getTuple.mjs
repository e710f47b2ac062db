// Reads a thread with LangGraph's own Postgres checkpointer and prints what
// it got as one line of JSON, so tests can check that a conversation written
// by svc-session (plain SQL) is a real LangGraph thread.
//
//   DATABASE_URL=postgresql://... node getTuple.mjs THREAD_ID
//   DATABASE_URL=postgresql://... node getTuple.mjs --setup
//
// The first prints {checkpoint_id, parent_checkpoint_id, metadata,
// channel_versions, messages: [{role, content, class, id, sources}], lead};
// "null" when the thread has no checkpoint. The second runs saver.setup()
// (which must change nothing on a database migrated by svc-session).
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("getTuple.mjs: DATABASE_URL is not set");
  process.exit(2);
}
const arg = process.argv[2];
if (!arg) {
  console.error("usage: node getTuple.mjs THREAD_ID | --setup");
  process.exit(2);
}

const roles = { human: "user", ai: "assistant", system: "system", tool: "tool" };

const saver = PostgresSaver.fromConnString(url);
try {
  if (arg === "--setup") {
    await saver.setup();
    console.log(JSON.stringify({ setup: "ok" }));
  } else {
    const tuple = await saver.getTuple({ configurable: { thread_id: arg } });
    if (tuple === undefined) {
      console.log("null");
    } else {
      const values = tuple.checkpoint.channel_values ?? {};
      const messages = (values.messages ?? []).map((m) => {
        const type = typeof m.getType === "function" ? m.getType() : m._getType?.() ?? m.type;
        return {
          role: roles[type] ?? type,
          content: m.content,
          class: m.constructor?.name,
          id: m.id,
          sources: m.additional_kwargs?.sources ?? [],
        };
      });
      console.log(
        JSON.stringify({
          checkpoint_id: tuple.config.configurable.checkpoint_id,
          parent_checkpoint_id: tuple.parentConfig?.configurable?.checkpoint_id ?? null,
          metadata: tuple.metadata,
          channel_versions: tuple.checkpoint.channel_versions,
          messages,
          lead: values.lead ?? null,
        }),
      );
    }
  }
} finally {
  await saver.end();
}
