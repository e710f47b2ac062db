/* svc-llm: prompt assembly and model providers; holds in-flight
 * generations and streams them to the gateway. This file wires the service. */
#include "llm.pb-c.h"
#include "log.h"
#include "rpc_server.h"
#include "svc_main.h"

typedef Chat__Llm__Llm_Service llm_svc;

static void llm_health(llm_svc *svc, const Chat__Rpc__HealthRequest *in, Chat__Rpc__HealthReply_Closure done,
                       void *cd)
{
    (void)svc;
    (void)in;
    Chat__Rpc__HealthReply out = CHAT__RPC__HEALTH_REPLY__INIT;
    svc_health(cd, &out);
    done(&out, cd);
}

RPC_UNIMPLEMENTED_HANDLER(llm_generate, llm_svc, Chat__Llm__GenerateRequest, Chat__Llm__GenerateReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(llm_poll, llm_svc, Chat__Llm__PollRequest, Chat__Llm__PollReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(llm_cancel, llm_svc, Chat__Llm__CancelRequest, Chat__Llm__CancelReply_Closure)

static llm_svc llm_service = CHAT__LLM__LLM__INIT(llm_);

static const cfg_var llm_vars[] = {
    {.name = "LLM_PROVIDER", .type = CFG_ENUM, .choices = "offline|anthropic|openai",
     .help = "model provider; default anthropic when ANTHROPIC_API_KEY is set, else offline"},
    {.name = "ANTHROPIC_API_KEY", .type = CFG_STR, .flags = CFG_SECRET, .help = "Anthropic API key"},
    {.name = "ANTHROPIC_BASE_URL", .type = CFG_URL, .def = "https://api.anthropic.com", .schemes = "http|https",
     .help = "Anthropic API base"},
    {.name = "ANTHROPIC_MODEL", .type = CFG_STR, .def = "claude-sonnet-4-5", .help = "Claude model name"},
    {.name = "OPENAI_API_KEY", .type = CFG_STR, .flags = CFG_SECRET, .help = "for LLM_PROVIDER=openai"},
    {.name = "OPENAI_BASE_URL", .type = CFG_URL, .def = "https://api.openai.com", .schemes = "http|https",
     .help = "OpenAI-compatible API base (Ollama, vLLM, llama.cpp)"},
    {.name = "OPENAI_MODEL", .type = CFG_STR, .def = "gpt-4o-mini", .help = "model for LLM_PROVIDER=openai"},
};

int main(int argc, char **argv)
{
    svc_def def = {
        .name = "svc-llm",
        .summary = "prompt assembly and model providers (Anthropic, OpenAI-compatible, offline)",
        .service = &llm_service.base,
        .url_var = "LLM_URL",
        .default_url = "tcp://127.0.0.1:7103",
        .needs_db = 0,
        .vars = llm_vars,
        .nvars = sizeof(llm_vars) / sizeof(llm_vars[0]),
    };
    return svc_main(&def, argc, argv);
}
