package cli

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/quantity"
	"github.com/slipway/slipway/cli/output"
)

// topCommand is `slip adm top nodes|pods`: CPU and memory in use, read
// from each node agent's usage summary through the API
// (GET /api/v1/nodes/{name}/stats, cluster admins and readers).
func (a *App) topCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Show CPU and memory use of nodes or pods",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	nodes := &cobra.Command{
		Use:     "nodes",
		Short:   "Show each node's CPU and memory use against what it can allocate",
		Example: `  slip adm top nodes`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.session()
			if err != nil {
				return err
			}
			stats, list, err := a.nodeStats(cmd.Context(), s)
			if err != nil {
				return err
			}
			tw := output.NewTable(a.Stdout)
			fmt.Fprintln(tw, "NAME\tCPU(cores)\tCPU%\tMEMORY(bytes)\tMEMORY%")
			for _, n := range list {
				st, ok := stats[n.Metadata.Name]
				if !ok {
					fmt.Fprintf(tw, "%s\t<unknown>\t<unknown>\t<unknown>\t<unknown>\n", n.Metadata.Name)
					continue
				}
				cpu, _ := quantity.MilliCPU(n.Status.Allocatable[api.ResourceCPU])
				mem, _ := quantity.Bytes(n.Status.Allocatable[api.ResourceMemory])
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Metadata.Name, formatMilliCPU(st.Usage.CPUMillicores),
					percent(st.Usage.CPUMillicores, cpu), formatBytes(st.Usage.MemoryBytes), percent(st.Usage.MemoryBytes, mem))
			}
			return tw.Flush()
		},
	}
	var allProjects, containers bool
	pods := &cobra.Command{
		Use:   "pods",
		Short: "Show each pod's CPU and memory use",
		Example: `  slip adm top pods -n shop
  slip adm top pods -A --containers`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.session()
			if err != nil {
				return err
			}
			project := ""
			if !allProjects {
				if project, err = a.projectOf(s); err != nil {
					return err
				}
			}
			stats, _, err := a.nodeStats(cmd.Context(), s)
			if err != nil {
				return err
			}
			var rows []api.PodStats
			for _, st := range stats {
				for _, p := range st.Pods {
					if allProjects || p.Project == project {
						rows = append(rows, p)
					}
				}
			}
			slices.SortFunc(rows, func(x, y api.PodStats) int {
				return strings.Compare(x.Project+"/"+x.Name, y.Project+"/"+y.Name)
			})
			tw := output.NewTable(a.Stdout)
			var header []string
			if allProjects {
				header = append(header, "PROJECT")
			}
			header = append(header, "NAME")
			if containers {
				header = append(header, "CONTAINER")
			}
			fmt.Fprintln(tw, strings.Join(append(header, "CPU(cores)", "MEMORY(bytes)"), "\t"))
			for _, p := range rows {
				lead := p.Name
				if allProjects {
					lead = p.Project + "\t" + p.Name
				}
				if !containers {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", lead, formatMilliCPU(p.Usage.CPUMillicores), formatBytes(p.Usage.MemoryBytes))
					continue
				}
				for _, c := range p.Containers {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", lead, c.Name, formatMilliCPU(c.Usage.CPUMillicores), formatBytes(c.Usage.MemoryBytes))
				}
			}
			if len(rows) == 0 {
				fmt.Fprintln(a.Stderr, "no pods with usage figures (pods appear after the node's second reading, within 20 s of starting)")
			}
			return tw.Flush()
		},
	}
	pods.Flags().BoolVarP(&allProjects, "all-projects", "A", false, "show pods of every project")
	pods.Flags().BoolVar(&containers, "containers", false, "one line per container")
	cmd.AddCommand(nodes, pods)
	return cmd
}

// nodeStats lists the nodes and asks each for its usage; a node that
// cannot answer is left out of the map (its row says <unknown>) after a
// warning on stderr.
func (a *App) nodeStats(ctx context.Context, s *session) (map[string]api.NodeStats, []api.Node, error) {
	var list api.List[api.Node]
	if err := s.client.List(ctx, nodesResource, "", api.ListOptions{}, &list); err != nil {
		return nil, nil, failedTo("list nodes", err)
	}
	stats := map[string]api.NodeStats{}
	for _, n := range list.Items {
		var st api.NodeStats
		if err := s.client.Do(ctx, "GET", "/api/v1/nodes/"+url.PathEscape(n.Metadata.Name)+"/stats", "", nil, &st); err != nil {
			fmt.Fprintf(a.Stderr, "node %s: no usage figures: %v\n", n.Metadata.Name, err)
			continue
		}
		stats[n.Metadata.Name] = st
	}
	return stats, list.Items, nil
}

func formatMilliCPU(m int64) string { return fmt.Sprintf("%dm", m) }

func formatBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1fGi", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%dMi", b>>20)
	}
}

func percent(used, of int64) string {
	if of <= 0 {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", used*100/of)
}
