// Command goclient is the Go SDK (github.com/modelcontextprotocol/go-sdk) driver of the interop
// matrix (tests/interop). Usage: goclient URL API_KEY PLAN_JSON [PROTOCOL_VERSION]
//
// It connects over Streamable HTTP with the SDK defaults (2026-07-28 first, server/discover,
// falling back to initialize) or, given PROTOCOL_VERSION (e.g. 2025-11-25), with that version,
// lists the tools, runs the plan's calls in order and prints one JSON summary line on stdout.
// Per-call failures are recorded in the summary, not fatal.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type call struct {
	Op       string         `json:"op"`
	Tool     string         `json:"tool"`
	Args     map[string]any `json:"args"`
	Progress bool           `json:"progress"`
}

type plan struct {
	Calls []call `json:"calls"`
}

type outcome struct {
	OK       bool      `json:"ok"`
	IsError  bool      `json:"isError,omitempty"`
	Text     string    `json:"text,omitempty"`
	Error    string    `json:"error,omitempty"`
	Progress []float64 `json:"progress,omitempty"`
}

type summary struct {
	Client          string              `json:"client"`
	ProtocolVersion string              `json:"protocolVersion,omitempty"`
	Connected       bool                `json:"connected"`
	Error           string              `json:"error,omitempty"`
	Tools           []string            `json:"tools"`
	Calls           map[string]*outcome `json:"calls"`
	Sampled         int                 `json:"sampled"`
	Elicited        int                 `json:"elicited"`
}

type bearer struct {
	key  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.base.RoundTrip(r)
}

func main() {
	if len(os.Args) != 4 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: goclient URL API_KEY PLAN_JSON [PROTOCOL_VERSION]")
		os.Exit(2)
	}
	version := ""
	if len(os.Args) == 5 {
		version = os.Args[4]
	}
	url, key := os.Args[1], os.Args[2]
	var p plan
	if err := json.Unmarshal([]byte(os.Args[3]), &p); err != nil {
		fmt.Fprintln(os.Stderr, "bad plan:", err)
		os.Exit(2)
	}
	out := run(url, key, p, version)
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

func run(url, key string, p plan, version string) *summary {
	out := &summary{Client: "go-sdk", Tools: []string{}, Calls: map[string]*outcome{}}
	var mu sync.Mutex
	progress := map[string][]float64{}
	client := mcp.NewClient(&mcp.Implementation{Name: "interop-go", Version: "1.8.0"}, &mcp.ClientOptions{
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			mu.Lock()
			out.Sampled++
			mu.Unlock()
			return &mcp.CreateMessageResult{
				Content: &mcp.TextContent{Text: "interop-sampled-by-go"},
				Model:   "interop-model",
				Role:    "assistant",
			}, nil
		},
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			mu.Lock()
			out.Elicited++
			mu.Unlock()
			// Accept with every required field of the requested form filled with this client's tag.
			content := map[string]any{}
			if schema, ok := req.Params.RequestedSchema.(map[string]any); ok {
				if required, ok := schema["required"].([]any); ok {
					for _, field := range required {
						content[fmt.Sprint(field)] = "interop-go"
					}
				}
			}
			return &mcp.ElicitResult{Action: "accept", Content: content}, nil
		},
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			token := fmt.Sprint(req.Params.ProgressToken)
			progress[token] = append(progress[token], req.Params.Progress)
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	transport := &mcp.StreamableClientTransport{
		Endpoint:   url,
		HTTPClient: &http.Client{Transport: bearer{key: key, base: http.DefaultTransport}},
		MaxRetries: -1,
	}
	session, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		out.Error = "connect: " + err.Error()
		return out
	}
	defer session.Close()
	out.Connected = true
	if init := session.InitializeResult(); init != nil {
		out.ProtocolVersion = init.ProtocolVersion
	}
	// Every page: the aggregated /mcp has more tools than one page.
	for tool, err := range session.Tools(ctx, nil) {
		if err != nil {
			out.Error = "tools/list: " + err.Error()
			return out
		}
		out.Tools = append(out.Tools, tool.Name)
	}
	for i, c := range p.Calls {
		params := &mcp.CallToolParams{Name: c.Tool, Arguments: c.Args}
		token := fmt.Sprintf("go-progress-%d", i)
		if c.Progress {
			params.SetProgressToken(token)
		}
		res, err := session.CallTool(ctx, params)
		o := &outcome{}
		if err != nil {
			o.Error = err.Error()
		} else {
			o.OK = true
			o.IsError = res.IsError
			for _, content := range res.Content {
				if text, ok := content.(*mcp.TextContent); ok {
					o.Text += text.Text
				}
			}
		}
		if c.Progress {
			// The SDK runs notification handlers concurrently with the response: let the
			// progress notifications sent before the result land (quiet for 150ms, at most 2s).
			o.Progress = settle(&mu, progress, token)
		}
		out.Calls[c.Op] = o
	}
	return out
}

func settle(mu *sync.Mutex, progress map[string][]float64, token string) []float64 {
	deadline := time.Now().Add(2 * time.Second)
	last, quietSince := -1, time.Now()
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(progress[token])
		mu.Unlock()
		if n != last {
			last, quietSince = n, time.Now()
		} else if time.Since(quietSince) >= 150*time.Millisecond {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]float64(nil), progress[token]...)
}
