package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// ParseSharedCredentials reads profile from AWS shared-credentials text, as
// Velero's "cloud" Secret key holds it: [section] headers ("[profile x]"
// too), "key = value" lines, # and ; comments. Errors name lines by number
// only: the text holds secrets.
func ParseSharedCredentials(data []byte, profile string) (Credentials, error) {
	var (
		c       Credentials
		section string
		found   bool
		n       int
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return Credentials{}, fmt.Errorf("line %d: malformed section header", n)
			}
			section = strings.TrimSpace(strings.TrimPrefix(line[1:len(line)-1], "profile "))
			found = found || section == profile
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Credentials{}, fmt.Errorf("line %d is neither a [section] nor key = value", n)
		}
		if section != profile {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			c.AccessKeyID = v
		case "aws_secret_access_key":
			c.SecretAccessKey = v
		case "aws_session_token", "aws_security_token":
			c.SessionToken = v
		}
	}
	if err := sc.Err(); err != nil {
		return Credentials{}, fmt.Errorf("unreadable after line %d", n)
	}
	switch {
	case !found:
		return Credentials{}, fmt.Errorf("no [%s] profile", profile)
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return Credentials{}, fmt.Errorf("profile [%s] has no aws_access_key_id and aws_secret_access_key", profile)
	}
	return c, nil
}
