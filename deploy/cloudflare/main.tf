# Cloudflare in front of the gateway (ADR-006): the per-IP rate limit on the
# chat path only, and the widget's cache rules. The same rules as
# ratelimit-ruleset.json / cache-ruleset.json (make deploy-check compares them).
#   terraform init && terraform apply -var zone_id=… (CLOUDFLARE_API_TOKEN in the environment)
terraform {
  required_providers {
    cloudflare = { source = "cloudflare/cloudflare", version = "~> 4.40" }
  }
}

variable "zone_id" { type = string }

resource "cloudflare_ruleset" "chat_rate_limit" {
  zone_id     = var.zone_id
  name        = "chat rate limit"
  description = "ADR-006: 30 chat requests per 10 minutes per IP, on the chat path only"
  kind        = "zone"
  phase       = "http_ratelimit"

  rules {
    description = "POST /v1/chat: 30 per 10 minutes per IP"
    expression  = "(http.request.uri.path eq \"/v1/chat\")"
    action      = "block"
    action_parameters {
      response {
        status_code  = 429
        content_type = "application/json"
        content      = "{\"error\":{\"code\":\"rate_limited\",\"message\":\"Too many messages from your network. Please wait a few minutes.\"}}"
      }
    }
    ratelimit {
      characteristics     = ["cf.colo.id", "ip.src"]
      period              = 600
      requests_per_period = 30
      mitigation_timeout  = 600
      requests_to_origin  = false
    }
    enabled = true
  }
}

resource "cloudflare_ruleset" "widget_cache" {
  zone_id     = var.zone_id
  name        = "widget cache"
  description = "chat.<hash>.js a year, chat.js as the origin says, the API never"
  kind        = "zone"
  phase       = "http_request_cache_settings"

  rules {
    description = "versioned widget"
    expression  = "(starts_with(http.request.uri.path, \"/widget/chat.\") and ends_with(http.request.uri.path, \".js\") and http.request.uri.path ne \"/widget/chat.js\")"
    action      = "set_cache_settings"
    action_parameters {
      cache = true
      edge_ttl {
        mode    = "override_origin"
        default = 31536000
      }
      browser_ttl { mode = "respect_origin" }
    }
    enabled = true
  }
  rules {
    description = "unversioned widget"
    expression  = "(http.request.uri.path eq \"/widget/chat.js\")"
    action      = "set_cache_settings"
    action_parameters {
      cache = true
      edge_ttl { mode = "respect_origin" }
      browser_ttl { mode = "respect_origin" }
    }
    enabled = true
  }
  rules {
    description = "API never cached"
    expression  = "(starts_with(http.request.uri.path, \"/v1/\"))"
    action      = "set_cache_settings"
    action_parameters { cache = false }
    enabled = true
  }
}
