// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// An ERC-20 whose transfers the owner can pause: balances still read, transfers revert.
/// Tests use it for a token that fails inside a sweep batch.
contract PausableToken {
    mapping(address => uint256) public balanceOf;
    address public owner;
    bool public paused;

    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor() {
        owner = msg.sender;
    }

    function decimals() external pure returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 value) external {
        require(msg.sender == owner, "only owner");
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function setPaused(bool value) external {
        require(msg.sender == owner, "only owner");
        paused = value;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(!paused, "paused");
        require(balanceOf[msg.sender] >= value, "balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}
