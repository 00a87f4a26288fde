"""The models: their names (`catalog`, torch-free), the registry that builds them (`registry`),
the blocks (`layers`) and the architectures. Import what you need from its module: importing this
package imports no torch."""
