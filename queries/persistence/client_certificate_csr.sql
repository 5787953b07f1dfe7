/*
id = "client_certificate_csr"
title = "Client certificate requested or approved"
description = "Someone other than a node created a CertificateSigningRequest for a Kubernetes API client certificate, or approved one. A client certificate is a long-lived credential that survives password and token rotation and cannot be revoked short of rotating the cluster CA."
kind = "alert"
severity = "high"
attack = ["T1098", "T1552.004"]
tags = ["certificates"]
catalog = ["D28"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_client_certificate_created.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/persistence_kubernetes_client_certificate_signing_request_created_or_approved.toml"]
false_positives = "Clusters that issue client certificates to people by design; node bootstrap CSRs are excluded."
remediation = "Deny or delete the CSR (kubectl certificate deny {obj_name}; kubectl delete csr {obj_name}); if a certificate was issued, rotate the cluster CA or remove the subject's RBAC bindings."
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'certificatesigningrequests'
  AND ((verb = 'create' AND obj_subresource IS NULL
        AND (json_get_str(request_object, 'spec', 'signerName') = 'kubernetes.io/kube-apiserver-client'
             OR coalesce(json_get_json(request_object, 'spec', 'usages'), '') LIKE '%"client auth"%'))
       OR (obj_subresource = 'approval' AND verb IN ('update', 'patch')))
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND NOT starts_with(coalesce(actor, ''), 'system:bootstrap:')
  AND coalesce(actor, '') <> 'kubelet-nodepool-bootstrap'
