// Adapted from github.com/temporalio/cli internal/devserver (MIT licence,
// Copyright (c) 2022 Temporal Technologies Inc.; Copyright (c) 2020 Uber
// Technologies, Inc.; Copyright (c) 2021 Datadog, Inc.).

// Package devserver runs a real Temporal server, with SQLite persistence and
// optionally the Temporal Web UI, inside the smartmaint process. It backs
// `smartmaint dev` and the end-to-end tests; production uses a Temporal
// cluster instead.
package devserver

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

const clusterName = "active"

// Options configures a dev server.
type Options struct {
	// IP is the address the frontend binds to; 127.0.0.1 when empty.
	IP string
	// Port is the gRPC frontend port; a free port when zero.
	Port int
	// UIPort serves the Temporal Web UI when non-zero.
	UIPort int
	// Namespaces are created at start; "default" when empty.
	Namespaces []string
	// DBFile keeps history in a SQLite file; empty keeps it in memory.
	DBFile string
	// Logger receives the server's logs at LogLevel and above.
	Logger   *slog.Logger
	LogLevel slog.Level
	// DynamicConfig overrides server dynamic config keys.
	DynamicConfig map[string]any
}

// Server is a running dev server.
type Server struct {
	server  temporal.Server
	ui      *uiserver.Server
	level   *slog.LevelVar
	address string
	uiURL   string
}

// Start builds and starts a server; it returns once the frontend accepts calls.
func Start(o Options) (*Server, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if len(o.Namespaces) == 0 {
		o.Namespaces = []string{"default"}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Port == 0 {
		p, err := FreePort(o.IP)
		if err != nil {
			return nil, err
		}
		o.Port = p
	} else if err := PortFree(o.IP, o.Port); err != nil {
		return nil, fmt.Errorf("devserver: frontend port %d: %w", o.Port, err)
	}
	if o.UIPort != 0 {
		if err := PortFree(o.IP, o.UIPort); err != nil {
			return nil, fmt.Errorf("devserver: UI port %d: %w", o.UIPort, err)
		}
	}

	conf, err := o.serverConfig()
	if err != nil {
		return nil, err
	}
	level := new(slog.LevelVar)
	level.Set(o.LogLevel)
	logger := slogLogger{log: o.Logger, level: level}
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("devserver: claim mapper: %w", err)
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, svc := range []primitives.ServiceName{primitives.FrontendService, primitives.MatchingService, primitives.HistoryService, primitives.WorkerService} {
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(o.IP, strconv.Itoa(conf.Services[string(svc)].RPC.GRPCPort)))
	}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// As in `temporal server start-dev`: new search attributes are
		// visible at once, so the persistence QPS limits go up.
		dynamicconfig.MakeKey("system.forceSearchAttributesCacheRefreshOnRead"): true,
		dynamicconfig.MakeKey("frontend.persistenceMaxQPS"):                     10000,
		dynamicconfig.MakeKey("history.persistenceMaxQPS"):                      45000,
	}
	for k, v := range o.DynamicConfig {
		dyn[dynamicconfig.MakeKey(k)] = v
	}
	server, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: new server: %w", err)
	}
	if err := server.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start: %w", err)
	}
	s := &Server{server: server, level: level, address: net.JoinHostPort(o.IP, strconv.Itoa(o.Port))}
	if o.UIPort != 0 {
		s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host:                o.IP,
			Port:                o.UIPort,
			TemporalGRPCAddress: s.address,
			EnableUI:            true,
			CORS:                uiconfig.CORS{CookieInsecure: true},
			HideLogs:            true,
			DisableNewsFetch:    true,
		}))
		s.uiURL = fmt.Sprintf("http://%s", net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort)))
		go func() {
			// Start blocks until Stop; a failure here means the UI port was
			// taken between the check above and the bind.
			if err := s.ui.Start(); err != nil {
				o.Logger.Error("temporal ui stopped", "error", err)
			}
		}()
	}
	return s, nil
}

// Address is the frontend host:port for SDK clients.
func (s *Server) Address() string { return s.address }

// UIURL is the Web UI address, or "" when the UI is off.
func (s *Server) UIURL() string { return s.uiURL }

// Stop shuts the UI and the server down. Its services complain about each
// other going away while stopping, so only errors are logged from here on.
func (s *Server) Stop() {
	s.level.Set(slog.LevelError)
	if s.ui != nil {
		s.ui.Stop()
	}
	s.server.Stop()
}

func (o Options) serverConfig() (*config.Config, error) {
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.IP

	sqlConf, err := o.sqlConfig()
	if err != nil {
		return nil, err
	}
	conf.Persistence.DefaultStore = "sqlite-default"
	conf.Persistence.VisibilityStore = "sqlite-default"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: sqlConf}}

	httpPort, err := FreePort(o.IP)
	if err != nil {
		return nil, err
	}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             net.JoinHostPort(o.IP, strconv.Itoa(o.Port)),
				HTTPAddress:            net.JoinHostPort(o.IP, strconv.Itoa(httpPort)),
				ClusterID:              o.clusterID(),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = o.IP
		if name == "frontend" {
			svc.RPC.GRPCPort = o.Port
			svc.RPC.HTTPPort = httpPort
		} else if svc.RPC.GRPCPort, err = FreePort(o.IP); err != nil {
			return nil, err
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = net.JoinHostPort(o.IP, strconv.Itoa(o.Port))
	return &conf, nil
}

func (o Options) sqlConfig() (*config.SQL, error) {
	conf := config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DBFile == "" {
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		conf.DatabaseName = strconv.Itoa(rand.IntN(9999999))
	} else {
		conf.ConnectAttributes = map[string]string{"mode": "rwc"}
		conf.DatabaseName = o.DBFile
		if _, err := os.Stat(o.DBFile); os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Dir(o.DBFile), 0o755); err != nil {
				return nil, fmt.Errorf("devserver: database dir: %w", err)
			}
			if err := sqliteschema.SetupSchema(&conf); err != nil {
				return nil, fmt.Errorf("devserver: database schema: %w", err)
			}
		}
	}
	namespaces := make([]*sqliteschema.NamespaceConfig, len(o.Namespaces))
	for i, ns := range o.Namespaces {
		nc, err := sqliteschema.NewNamespaceConfig(clusterName, ns, false, nil)
		if err != nil {
			return nil, fmt.Errorf("devserver: namespace %q: %w", ns, err)
		}
		namespaces[i] = nc
	}
	if err := sqliteschema.CreateNamespaces(&conf, namespaces...); err != nil {
		return nil, fmt.Errorf("devserver: create namespaces: %w", err)
	}
	return &conf, nil
}

// clusterID is stable for a database file (the server keeps the id it first
// stored) and fresh for an in-memory server.
func (o Options) clusterID() string {
	if o.DBFile != "" {
		abs, _ := filepath.Abs(o.DBFile)
		return uuid.NewSHA1(uuid.NameSpaceURL, []byte("file://"+abs)).String()
	}
	return uuid.NewString()
}
