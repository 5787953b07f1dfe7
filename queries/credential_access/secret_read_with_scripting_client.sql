/*
id = "secret_read_with_scripting_client"
title = "Secret read with a scripting or HTTP-library client"
description = "Secrets were read with curl, wget, python, perl, java, node, php, Go's default HTTP client, or a Kali-branded client, rather than kubectl or a controller. Typical of stolen tokens used from scripts. Control-plane identities (EKS components also say Go-http-client) are excluded."
kind = "alert"
severity = "high"
attack = ["T1552.007"]
tags = ["secrets"]
catalog = ["D53"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/credential_access_kubernetes_secret_access_scripting_http_clients.toml"]
false_positives = "In-house tools written against the raw API; allow-list their identities in secret_listers."
remediation = "Rotate secret {obj_namespace}/{obj_name}, revoke {actor}'s credentials and investigate {source_ip}."
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'secrets' AND verb IN ('get', 'list') AND coalesce(response_code, 200) < 400 AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(user_agent, '') ~* '^(curl|wget|python|perl|java|node|php|go-http-client)|kali'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:') AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'secret_listers')
