/*
id = "exec_download_or_shell_tooling"
title = "Exec running curl/wget to HTTPS or invoking shells and cluster tools"
description = "An exec command downloads over HTTPS with curl or wget, or calls a shell interpreter or kubectl/python/perl by absolute path. Attackers pull tooling into containers this way; the health, OIDC and in-cluster service endpoints are excluded. (Fixes Sigma 597a7e84, which can never match because it compares responseStatus.code to 'ALLOW'.)"
kind = "alert"
severity = "medium"
attack = ["T1609", "T1105"]
tags = ["exec"]
catalog = ["D17"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/execution_kubernetes_pod_exec_curl_wget_https.toml", "https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_potential_enumeration_activity.yml"]
false_positives = "Engineers fetching a file while debugging; allow-list the image or actor if this is routine."
remediation = "Find out what {actor} downloaded into {obj_namespace}/{obj_name}; rebuild the pod from its image (kubectl delete pod -n {obj_namespace} {obj_name})."
*/
SELECT *
FROM k8s_exec
WHERE obj_subresource = 'exec' AND coalesce(stage, 'ResponseStarted') = 'ResponseStarted' AND coalesce(response_code, 101) < 400
  AND (command ~ '(curl|wget)\s.*https?://' OR command ~ '(^|\s)/(usr/)?bin/(ash|bash|busybox|dash|sh|zsh|kubectl|perl|python[0-9.]*)(\s|$)')
  AND command !~ '(https?://(localhost|127\.0\.0\.1|kubernetes\.default)|/healthz|/readyz|/livez|/\.well-known/)'
