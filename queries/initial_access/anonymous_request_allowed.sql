/*
id = "anonymous_request_allowed"
title = "Anonymous request allowed to a non-health endpoint"
description = "An unauthenticated (system:anonymous) request was authorized for something other than the health, version and discovery endpoints anonymous clients legitimately reach. Either RBAC grants anonymous users real permissions (a misconfiguration) or someone is already exploiting one."
kind = "alert"
severity = "high"
attack = ["T1078.001", "T1190"]
tags = ["anonymous"]
catalog = ["D01"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/aws_eks_rules/anonymous_api_access.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/initial_access_anonymous_request_authorized.toml"]
false_positives = "Clusters that deliberately expose read-only endpoints to anonymous users; bind those to narrowly scoped roles and allow-list the paths by editing the exclusion."
remediation = "Find the binding granting system:anonymous or system:unauthenticated access (kubectl get clusterrolebindings,rolebindings -A -o wide | grep -E 'system:(anonymous|unauthenticated)') and delete it; review what {source_ip} did."
*/
SELECT *
FROM k8s_events
WHERE (actor IS NULL OR actor IN ('', 'system:anonymous', 'system:unauthenticated') OR array_has(coalesce(user_groups, make_array('')), 'system:unauthenticated'))
  AND authz_decision = 'allow'
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(request_uri, '') !~ '^/(apis/)?(healthz|livez|readyz)([/?]|$)'
  AND coalesce(request_uri, '') !~ '^/(version|\.well-known/|openid/v1/jwks)'
  AND coalesce(user_agent, '') !~ '^(kube-probe/|GoogleHC/|ELB-HealthChecker/)'
  AND coalesce(source_ip_class, '') <> 'loopback'
