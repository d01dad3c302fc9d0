package actions

import "go.yaml.in/yaml/v3"

// Item returns the i-th item of the sequence under key in the block's
// mapping, or the field itself (or nil) when there is no such item. Use it
// to position errors about one entry of a list.
func (b *Block) Item(key string, i int) *yaml.Node {
	n := b.Field(key)
	for j := 0; n != nil && n.Kind == yaml.AliasNode && j < 100; j++ {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
		return n
	}
	return n.Content[i]
}
