/*
id = "exec_reverse_shell"
title = "Exec into a pod with a reverse-shell payload"
description = "A pods/exec request whose command opens a reverse shell (bash /dev/tcp redirection, netcat -e, socat exec, mkfifo pipes, scripting-language socket connects). An interactive shell calling back to an outside host is how an intruder turns API access into a foothold inside a container."
kind = "alert"
severity = "critical"
attack = ["T1609", "T1059.004"]
tags = ["exec", "container"]
catalog = ["D13"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/execution_kubernetes_pod_exec_potential_reverse_shell.toml"]
false_positives = "Debugging sessions that test connectivity with /dev/tcp to localhost service ports are excluded; anything else deserves a look."
remediation = "Kill the session and the pod (kubectl delete pod -n {obj_namespace} {obj_name}), revoke {actor}'s credentials, and review what the shell reached."
*/
SELECT *
FROM k8s_exec
WHERE obj_subresource = 'exec'
  AND command ~ '(/dev/tcp/|/dev/udp/|zsh/net/tcp|zsh/net/udp|(^|\s)(nc|ncat|netcat)\s+.*-e\s|(^|\s)nc\s.*\s-c\s|mkfifo|socat\s.*(exec|pty)|bash\s+-i\s+>&|0>&1|>&\s*/dev/tcp|import\s+socket.*connect|import\s+pty.*spawn|socket\.socket.*connect|IO::Socket::INET|fsockopen|TCPSocket\.new|/inet/tcp/)'
  AND command !~ '/dev/tcp/(localhost|127\.0\.0\.1)/(8080|8443|9090|3000|5000|8888|80|443)([^0-9]|$)'
